{#- Every valid copy of a redelivered served_features event, ranked by delivery. -#}
{{ config(materialized='table') }}

{{ landing_duplicates_model('served_features') }}
