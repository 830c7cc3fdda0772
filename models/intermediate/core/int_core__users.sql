-- One row per user: the latest users change event, or, without any, the users the
-- impressions name (macros/landing_dimension.sql).
{{ config(materialized='table') }}
{{ landing_dimension('users', 'user_id') }}
