-- One row per impression with at least one counted click: its clicks, and the purchases
-- attributed to them (a purchase is only ever credited to a counted click, so every
-- attributed impression is here). A table of its own, and small (about one impression in
-- nine): inlined into the labels, these two aggregations made DuckDB plan the join to
-- every impression out of core (8 GB and twice the time at 51M impressions).
{{ config(materialized='table') }}

with click_outcomes as (
    select
        impression_event_id,
        count(*) as n_clicks,
        min(clicked_at) as clicked_at
    from {{ ref('int_labels__counted_clicks') }}
    group by impression_event_id
),

purchase_outcomes as (
    select
        impression_event_id,
        count(*) as n_purchases,
        sum(revenue) as revenue,
        min(purchased_at) as first_purchased_at
    from {{ ref('int_labels__attributed_purchases') }}
    group by impression_event_id
)

select
    click_outcomes.impression_event_id,
    click_outcomes.n_clicks,
    click_outcomes.clicked_at,
    coalesce(purchase_outcomes.n_purchases, 0) as n_purchases,
    coalesce(purchase_outcomes.revenue, 0) as revenue,
    purchase_outcomes.first_purchased_at
from click_outcomes
left join purchase_outcomes
    on click_outcomes.impression_event_id = purchase_outcomes.impression_event_id
