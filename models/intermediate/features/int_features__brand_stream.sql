-- Running totals of each brand's impressions and clicks, one row per (item_brand, event time):
-- what the brand's target encoding reads.
{{ config(materialized='table') }}

{{ pit_stream(['item_brand'], ['impressions', 'clicks']) }}
