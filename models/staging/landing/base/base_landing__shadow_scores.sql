{#- Every raw shadow_scores row, typed, with its reject reason (see landing_base_model). -#}
-- unknown_user / unknown_item look up the valid dimension rows:
-- depends_on: {{ ref('base_landing__items') }}

{{ landing_base_model('shadow_scores') }}
