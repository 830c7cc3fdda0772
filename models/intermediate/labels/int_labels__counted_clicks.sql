-- One row per click that counts for an impression: same request and item, at most
-- click_window_minutes after the impression (both ends inclusive). Where a log shows the
-- same item twice in a request (a re-sent impression with a new event_id), the click goes
-- to the latest impression before it (ties: the smaller event_id). A table: the labels
-- read it twice (clicks, and purchases through their attributed click), and it is small
-- next to the impressions it is joined from.
{{ config(materialized='table') }}

with impressions as (
    select event_id, request_id, item_id, ts from {{ ref('stg_landing__impressions') }}
),

clicks as (
    select event_id, request_id, user_id, item_id, ts, landed_at
    from {{ ref('stg_landing__clicks') }}
),

matched as (
    select
        clicks.event_id as click_event_id,
        impressions.event_id as impression_event_id,
        clicks.user_id,
        clicks.item_id,
        clicks.ts as clicked_at,
        clicks.landed_at,
        row_number() over (
            partition by clicks.event_id order by impressions.ts desc, impressions.event_id
        ) as match_rank
    from clicks
    inner join impressions
        on clicks.request_id = impressions.request_id
        and clicks.item_id = impressions.item_id
        and clicks.ts >= impressions.ts
        and clicks.ts <= {{ dbt.dateadd('minute', var('click_window_minutes'), 'impressions.ts') }}
)

select click_event_id, impression_event_id, user_id, item_id, clicked_at, landed_at
from matched
where match_rank = 1
