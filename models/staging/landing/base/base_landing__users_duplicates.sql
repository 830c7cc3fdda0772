{#- Every valid copy of a redelivered users event, ranked by delivery. -#}
{{ config(materialized='table') }}

{{ landing_duplicates_model('users') }}
