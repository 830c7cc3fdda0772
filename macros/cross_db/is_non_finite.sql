{#- True where a double is NaN or +-infinity, null where it is null: x * 0 is 0 for every
    finite x and NaN otherwise, and NaN <> 0 on DuckDB, Spark and PostgreSQL alike (each
    treats NaN as equal to itself). -#}
{% macro is_non_finite(expression) -%}
({{ expression }} * 0 <> 0)
{%- endmacro %}
