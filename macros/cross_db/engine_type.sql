{#- A type named as the contract names it (seeds/landing_contract.csv, the yml contracts:
    DuckDB's names) in the engine's SQL: Spark has no VARCHAR without a length, and writes
    a list of T (DuckDB's T[]) array<T>. -#}
{% macro engine_type(data_type) -%}
  {{ return(adapter.dispatch('engine_type', 'receval')(data_type)) }}
{%- endmacro %}

{% macro default__engine_type(data_type) -%}
  {{ return(data_type) }}
{%- endmacro %}

{% macro spark__engine_type(data_type) -%}
  {%- set name = data_type | trim -%}
  {%- if name.endswith('[]') -%}
    {{ return('array<' ~ spark__engine_type(name[:-2]) ~ '>') }}
  {%- endif -%}
  {{ return({'VARCHAR': 'STRING', 'TIMESTAMP WITH TIME ZONE': 'TIMESTAMP', 'BLOB': 'BINARY'}.get(name | upper, name)) }}
{%- endmacro %}
