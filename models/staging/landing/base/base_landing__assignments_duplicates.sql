{#- Every valid copy of a redelivered assignments event, ranked by delivery. -#}
{{ config(materialized='table') }}

{{ landing_duplicates_model('assignments') }}
