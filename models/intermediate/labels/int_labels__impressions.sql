{#- Incremental and exact: each run rewrites only the impressions whose labels can have
    changed since the last run, computed from the full history, so the table equals a
    full refresh. Those are: impressions that landed since (new or late), labels not yet
    mature (the look-back: every impression younger than the click plus attribution
    window), every impression with a counted click in a (user, item) pair that a newly
    landed click touches, and every impression a newly landed purchase is credited to.
    Spark's Parquet tables cannot delete rows: there the table is partitioned by day and
    every day holding such an impression is rewritten whole (rewritten_rows). -#}
{{ config(
    materialized='incremental',
    unique_key='event_id',
    incremental_strategy='insert_overwrite' if target.type == 'spark' else 'delete+insert',
    partition_by=['impression_date'] if target.type == 'spark' else none,
    on_schema_change='fail',
) }}

with impressions as (
    select * from {{ ref('stg_landing__impressions') }}
),

-- counted_clicks and attributed are read by incremental runs only, to find what to
-- rewrite; declared here so dbt sees the dependencies when it parses the model.
counted_clicks as (
    select * from {{ ref('int_labels__counted_clicks') }}
),

attributed as (
    select * from {{ ref('int_labels__attributed_purchases') }}
),

outcomes as (
    select * from {{ ref('int_labels__impression_outcomes') }}
),

data_end as (
    select as_of from {{ ref('int_labels__data_end') }}
),

{% if is_incremental() %}
watermark as (
    select max(landed_at) as landed_at from {{ this }}
),

-- A newly counted click can take a purchase's last-click credit from any other click of
-- the same user on the same item; a new purchase only credits the impression it goes to.
touched_pairs as (
    select distinct user_id, item_id from counted_clicks
    where landed_at >= (select landed_at from watermark)
),

to_refresh as (
    select event_id from impressions
    where landed_at >= (select landed_at from watermark)
    union
    select event_id from {{ this }}
    where not (is_label_mature and is_click_label_mature)
    union
    select counted_clicks.impression_event_id from counted_clicks
    inner join touched_pairs
        on counted_clicks.user_id = touched_pairs.user_id
        and counted_clicks.item_id = touched_pairs.item_id
    union
    select impression_event_id from attributed
    where landed_at >= (select landed_at from watermark)
),

-- the days holding them: Spark rewrites whole day partitions (rewritten_rows); DuckDB never
-- reads this CTE
refresh_days as (
    select distinct cast(ts as date) as impression_date from impressions
    where event_id in (select event_id from to_refresh)
),
{% endif %}

labelled as (
    select
        impressions.event_id,
        impressions.request_id,
        impressions.user_id,
        impressions.item_id,
        impressions.position,
        impressions.model_id,
        impressions.score,
        impressions.propensity,
        impressions.team,
        impressions.ts as impression_ts,
        cast(impressions.ts as date) as impression_date,
        impressions.landed_at,
        outcomes.impression_event_id is not null as is_clicked,
        coalesce(outcomes.n_clicks, 0) as n_clicks,
        outcomes.clicked_at,
        {{ dbt.datediff('impressions.ts', 'outcomes.clicked_at', 'second') }} as seconds_to_click,
        coalesce(outcomes.n_purchases, 0) > 0 as is_converted,
        coalesce(outcomes.n_purchases, 0) as n_purchases,
        coalesce(outcomes.revenue, 0) as revenue,
        outcomes.first_purchased_at,
        cast({{ dbt.datediff('outcomes.clicked_at', 'outcomes.first_purchased_at', 'second') }} as double) / 3600
            as hours_click_to_purchase,
        {{ dbt.dateadd('minute', var('click_window_minutes'), 'impressions.ts') }} <= data_end.as_of
            as is_click_label_mature,
        {{ dbt.dateadd('day', var('attribution_window_days'),
                       dbt.dateadd('minute', var('click_window_minutes'), 'impressions.ts')) }} <= data_end.as_of
            as is_label_mature
    from impressions
    cross join data_end
    left join outcomes on impressions.event_id = outcomes.impression_event_id
    {% if is_incremental() %}
    where {{ rewritten_rows('impressions.event_id', 'select event_id from to_refresh',
                             'cast(impressions.ts as date)', 'select impression_date from refresh_days') }}
    {% endif %}
)

select * from labelled
