{#- Every valid copy of a redelivered clicks event, ranked by delivery. -#}
{{ config(materialized='table') }}

{{ landing_duplicates_model('clicks') }}
