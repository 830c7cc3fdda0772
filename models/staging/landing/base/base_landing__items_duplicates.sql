{#- Every valid copy of a redelivered items event, ranked by delivery. -#}
{{ config(materialized='table') }}

{{ landing_duplicates_model('items') }}
