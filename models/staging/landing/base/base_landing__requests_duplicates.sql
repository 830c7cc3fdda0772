{#- Every valid copy of a redelivered requests event, ranked by delivery. -#}
{{ config(materialized='table') }}

{{ landing_duplicates_model('requests') }}
