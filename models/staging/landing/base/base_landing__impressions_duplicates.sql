{#- Every valid copy of a redelivered impressions event, ranked by delivery. -#}
{{ config(materialized='table') }}

{{ landing_duplicates_model('impressions') }}
