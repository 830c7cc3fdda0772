-- Running totals of each user's impressions and clicks per item category, one row per
-- (user_id, item_category, event time): what the user x category features read.
{{ config(materialized='table') }}

{{ pit_stream(['user_id', 'item_category'], ['impressions', 'clicks']) }}
