{#- A cast that yields null instead of failing, so a file with a broken schema is rejected
    row by row instead of stopping the build. -#}
{% macro try_cast(field, type) -%}
  {{ return(adapter.dispatch('try_cast', 'receval')(field, type)) }}
{%- endmacro %}

{% macro default__try_cast(field, type) -%}
{{ dbt.safe_cast(field, type) }}
{%- endmacro %}

{#- dbt-duckdb's safe_cast is a plain cast. -#}
{% macro duckdb__try_cast(field, type) -%}
try_cast({{ field }} as {{ type }})
{%- endmacro %}

{% macro spark__try_cast(field, type) -%}
try_cast({{ field }} as {{ type }})
{%- endmacro %}
