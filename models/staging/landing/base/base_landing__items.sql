{#- Every raw items row, typed, with its reject reason (a view: see landing_base_model). -#}
{{ config(materialized='view') }}

{{ landing_base_model('items') }}
