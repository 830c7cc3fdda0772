{#- The production (logging) model as a SQL expression: the var `var_name` as a literal when
    set, else the model_id that served the most impressions (int_labels__most_served_model),
    so a log whose models are not named like the simulator's still has one. -#}
{% macro production_model_id(var_name) -%}
  {%- if var(var_name) is not none -%}
'{{ var(var_name) }}'
  {%- else -%}
(select model_id from {{ ref('int_labels__most_served_model') }})
  {%- endif -%}
{%- endmacro %}
