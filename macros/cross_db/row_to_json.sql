{#- A row as JSON text: {"name": value, ...} over the given columns (read as prefix ~ name). -#}
{% macro row_to_json(names, prefix='') -%}
  {{ return(adapter.dispatch('row_to_json', 'receval')(names, prefix)) }}
{%- endmacro %}

{#- Portable: SQL:2016 json_object. -#}
{% macro default__row_to_json(names, prefix) -%}
cast(json_object({% for name in names %}'{{ name }}' value {{ prefix ~ name }}{% if not loop.last %}, {% endif %}{% endfor %} null on null) as {{ dbt.type_string() }})
{%- endmacro %}

{% macro duckdb__row_to_json(names, prefix) -%}
cast(to_json(struct_pack({% for name in names %}"{{ name }}" := {{ prefix ~ name }}{% if not loop.last %}, {% endif %}{% endfor %})) as varchar)
{%- endmacro %}

{#- null fields and timestamps written as DuckDB writes them (Spark cannot drop the zeros of
    a fraction: .500000 where DuckDB writes .5) -#}
{% macro spark__row_to_json(names, prefix) -%}
to_json(named_struct({% for name in names %}'{{ name }}', {{ prefix ~ name }}{% if not loop.last %}, {% endif %}{% endfor %}),
        map('ignoreNullFields', 'false', 'timestampFormat', 'yyyy-MM-dd HH:mm:ss.SSSSSS', 'timestampNTZFormat', 'yyyy-MM-dd HH:mm:ss.SSSSSS'))
{%- endmacro %}
