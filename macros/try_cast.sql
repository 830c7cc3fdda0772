{#- cast that yields null instead of failing, so a file with a broken schema is rejected
    row by row instead of stopping the build (dbt-duckdb's safe_cast is a plain cast). -#}
{% macro landing_try_cast(field, type) -%}
  {{ return(adapter.dispatch('landing_try_cast', 'receval')(field, type)) }}
{%- endmacro %}

{% macro duckdb__landing_try_cast(field, type) -%}
try_cast({{ field }} as {{ type }})
{%- endmacro %}

{% macro spark__landing_try_cast(field, type) -%}
try_cast({{ field }} as {{ type }})
{%- endmacro %}

{% macro default__landing_try_cast(field, type) -%}
{{ dbt.safe_cast(field, type) }}
{%- endmacro %}
