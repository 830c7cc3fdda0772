{#- dbt.listagg on Spark (dbt_project.yml dispatches dbt's macros here first): dbt-spark's
    ignores the order and gives '' where every value is null. Here the values are sorted
    and all-null gives null, as on DuckDB. Every caller orders by the value itself (or by
    the column the value starts with), which is what sorting the values gives. -#}
{% macro spark__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}
  {%- if limit_num -%}
    {{ exceptions.raise_compiler_error('listagg: limit_num is not implemented on Spark') }}
  {%- endif -%}
case when size(collect_list({{ measure }})) > 0
    then array_join(array_sort(collect_list({{ measure }})), {{ delimiter_text }}) end
{%- endmacro %}
