{#- Every raw users row, typed, with its reject reason and delivery rank. -#}
{{ config(materialized='table') }}

{{ landing_base_model('users') }}
