{#- Every valid copy of a redelivered conversions event, ranked by delivery. -#}
{{ config(materialized='table') }}

{{ landing_duplicates_model('conversions') }}
