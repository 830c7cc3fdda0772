{#- A hash of the given columns, nulls included, to tell two copies of a row apart without
    comparing every column (64-bit where the engine has it: collisions are negligible). -#}
{% macro row_hash(names) -%}
  {{ return(adapter.dispatch('row_hash', 'receval')(names)) }}
{%- endmacro %}

{#- Portable: dbt's hash of the columns as text, a marker for null, separated by '|'. -#}
{% macro default__row_hash(names) -%}
{%- set fields = [] -%}
{%- for name in names -%}
  {%- do fields.append("coalesce(cast(" ~ name ~ " as " ~ dbt.type_string() ~ "), '<null>')") -%}
  {%- if not loop.last %}{% do fields.append("'|'") %}{% endif -%}
{%- endfor -%}
{{ dbt.hash(dbt.concat(fields)) }}
{%- endmacro %}

{% macro duckdb__row_hash(names) -%}
hash({{ names | join(', ') }})
{%- endmacro %}

{% macro spark__row_hash(names) -%}
xxhash64({{ names | join(', ') }})
{%- endmacro %}
