-- One row per item: the latest items change event, or, without any, the items the
-- impressions name (macros/landing_dimension.sql).
{{ config(materialized='table') }}
{{ landing_dimension('items', 'item_id') }}
