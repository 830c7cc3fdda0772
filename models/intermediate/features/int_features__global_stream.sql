-- Running totals of all impressions, clicks and purchases, one row per event time: the priors
-- of the target encodings.
{{ config(materialized='table') }}

{{ pit_stream([], ['impressions', 'clicks', 'purchases']) }}
