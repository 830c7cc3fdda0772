{#- dbt.cast and dbt.safe_cast on Spark (dbt_project.yml dispatches dbt's macros here first),
    with the type in Spark's names (engine_type): the contracts name types as DuckDB does. A
    unit test's list fixture comes as DuckDB's list literal [a, b] (as text where the yml
    quotes it), which Spark writes array(a, b). -#}
{% macro spark__cast(field, type) -%}
    cast({{ field }} as {{ engine_type(type) }})
{%- endmacro %}

{% macro spark__safe_cast(field, type) -%}
  {%- set text = field | string | trim -%}
  {%- if text.startswith("'[") and text.endswith("]'") %}{% set text = text[1:-1] %}{% endif -%}
  {%- if engine_type(type).startswith('array<') and text.startswith('[') and text.endswith(']') -%}
    cast(array({{ text[1:-1] }}) as {{ engine_type(type) }})
  {%- else -%}
    {{ spark__cast(field, type) }}
  {%- endif -%}
{%- endmacro %}
