-- Running totals of each user's impressions and clicks, one row per (user_id, event time):
-- what the user features read (macros/features/event_streams.sql).
{{ config(materialized='table') }}

{{ pit_stream(['user_id'], ['impressions', 'clicks']) }}
