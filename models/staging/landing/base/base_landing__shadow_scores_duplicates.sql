{#- Every valid copy of a redelivered shadow_scores event, ranked by delivery. -#}
{{ config(materialized='table') }}

{{ landing_duplicates_model('shadow_scores') }}
