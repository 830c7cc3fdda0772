-- Each user's recent items, one row per (user_id, event time): the items of the user's last
-- feature_recent_items_lookback event times up to and including it (macros/features/recent_items.sql),
-- what user_recent_item_ids reads.
{{ config(materialized='table') }}

with

{{ pit_events(['impressions', 'clicks']) }},

{{ pit_user_recent_stream('pit_impressions_events', 'pit_clicks_events') }}

select user_id, ts, recent_item_ids_raw from pit_user_recent_stream
