{#- A row as JSON text: {"name": value, ...} over the given columns (read as prefix ~ name). -#}
{% macro landing_row_to_json(names, prefix='') -%}
  {{ return(adapter.dispatch('landing_row_to_json', 'receval')(names, prefix)) }}
{%- endmacro %}

{% macro duckdb__landing_row_to_json(names, prefix) -%}
cast(to_json(struct_pack({% for name in names %}"{{ name }}" := {{ prefix ~ name }}{% if not loop.last %}, {% endif %}{% endfor %})) as varchar)
{%- endmacro %}

{% macro spark__landing_row_to_json(names, prefix) -%}
to_json(named_struct({% for name in names %}'{{ name }}', {{ prefix ~ name }}{% if not loop.last %}, {% endif %}{% endfor %}))
{%- endmacro %}

{% macro default__landing_row_to_json(names, prefix) -%}
cast(json_object({% for name in names %}'{{ name }}' value {{ prefix ~ name }}{% if not loop.last %}, {% endif %}{% endfor %} null on null) as {{ dbt.type_string() }})
{%- endmacro %}
