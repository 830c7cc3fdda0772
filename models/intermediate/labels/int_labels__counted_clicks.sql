-- One row per click that counts for an impression: same request and item, at most
-- click_window_minutes after the impression (both ends inclusive). A table: the labels
-- read it twice (clicks, and purchases through their attributed click), and it is small
-- next to the impressions it is joined from.
{{ config(materialized='table') }}

with impressions as (
    select event_id, request_id, item_id, ts from {{ ref('stg_landing__impressions') }}
),

clicks as (
    select event_id, request_id, user_id, item_id, ts, landed_at
    from {{ ref('stg_landing__clicks') }}
)

select
    clicks.event_id as click_event_id,
    impressions.event_id as impression_event_id,
    clicks.user_id,
    clicks.item_id,
    clicks.ts as clicked_at,
    clicks.landed_at
from clicks
inner join impressions
    on clicks.request_id = impressions.request_id
    and clicks.item_id = impressions.item_id
    and clicks.ts >= impressions.ts
    and clicks.ts <= {{ dbt.dateadd('minute', var('click_window_minutes'), 'impressions.ts') }}
