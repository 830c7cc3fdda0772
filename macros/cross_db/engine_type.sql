{#- A type named as the contract names it (seeds/landing_contract.csv: DuckDB's names) in
    the engine's SQL: Spark has no VARCHAR without a length. -#}
{% macro engine_type(data_type) -%}
  {{ return(adapter.dispatch('engine_type', 'receval')(data_type)) }}
{%- endmacro %}

{% macro default__engine_type(data_type) -%}
  {{ return(data_type) }}
{%- endmacro %}

{% macro spark__engine_type(data_type) -%}
  {{ return({'VARCHAR': 'STRING', 'TIMESTAMP WITH TIME ZONE': 'TIMESTAMP', 'BLOB': 'BINARY'}.get(data_type | upper, data_type)) }}
{%- endmacro %}
