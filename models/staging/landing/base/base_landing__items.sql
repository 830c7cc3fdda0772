{#- Every raw items row, typed, with its reject reason (see landing_base_model). -#}

{{ landing_base_model('items') }}
