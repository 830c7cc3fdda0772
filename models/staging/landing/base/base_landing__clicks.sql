{#- Every raw clicks row, typed, with its reject reason and delivery rank. -#}
{{ config(materialized='table') }}
-- unknown_user / unknown_item look up the valid dimension rows:
-- depends_on: {{ ref('base_landing__users') }}
-- depends_on: {{ ref('base_landing__items') }}

{{ landing_base_model('clicks') }}
