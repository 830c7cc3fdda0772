-- Running totals of each item's impressions, clicks and purchases, one row per (item_id, event
-- time): what the item features read.
{{ config(materialized='table') }}

{{ pit_stream(['item_id'], ['impressions', 'clicks', 'purchases']) }}
