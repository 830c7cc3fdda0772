{#- Every valid copy of a redelivered candidates event, ranked by delivery. -#}
{{ config(materialized='table') }}

{{ landing_duplicates_model('candidates') }}
