-- One row per impression of int_labels__impressions: the point-in-time features the
-- candidate models train on (receval.models.features: CATEGORICAL + DENSE), without its
-- labels (int_features__impressions joins them). Every feature is computed as of
-- feature_ts, the moment the impression's list was served (the request's first impression;
-- all of a request's impressions share it), from events strictly before it, each at its own
-- event time: nothing of the same request, no click or purchase that happened at or after
-- feature_ts, counts. The definitions live in macros/features/ and are shared with the
-- online snapshot marts and the candidate-set features (int_cf__candidate_features).
-- A day's features read only events before the day ends, so the table is built a batch of
-- days at a time (macros/materializations/incremental_by_day.sql): a new day adds its rows
-- and leaves the others, and each batch's joins stay small. A late-landing impression,
-- click, purchase or request changes the features after it: an incremental run rebuilds
-- from the earliest such event's day (landed_events, against the table's latest landed_at).
-- depends_on: {{ ref('stg_landing__clicks') }}, {{ ref('stg_landing__conversions') }}
{{ config(
    materialized='incremental_by_day',
    day_column='impression_date',
    days_from='int_labels__impressions',
    batch_rows=var('feature_batch_rows'),
    lookback_days=var('feature_lookback_days'),
    landed_events={'int_labels__impressions': 'impression_ts', 'stg_landing__clicks': 'ts',
                   'stg_landing__conversions': 'ts', 'stg_landing__requests': 'ts'},
) }}

with

impressions as (
    select event_id, request_id, user_id, item_id, position, impression_ts, impression_date, landed_at
    from {{ ref('int_labels__impressions') }}
    -- and the day before: a request served just before midnight keeps its first impression
    where {{ day_batch('impression_date', days_before=1) }}
),

slots as (
    select *
    from (
        select
            impressions.*,
            min(impressions.impression_ts) over (partition by impressions.request_id) as point_ts,
            impressions.impression_ts as context_ts
        from impressions
    ) as with_point_ts
    where {{ day_batch('impression_date') }}
),

{{ pit_slot_features('features', 'slots', users=ref('int_core__users'), items=ref('int_core__items'),
                     requests=ref('stg_landing__requests')) }}

select
    event_id,
    impression_date,
    landed_at,
    point_ts as feature_ts
    {%- for column in pit_feature_columns() %},
    {{ column }}
    {%- endfor %}
from features
