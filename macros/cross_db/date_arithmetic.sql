{#- dbt.dateadd and dbt.datediff on Spark (dbt_project.yml dispatches dbt's macros here
    first), exact to the microsecond as on DuckDB: dbt-spark's go through whole-second Unix
    times, so a window's edge (the hour before a request) lost its fraction and an event
    in that second fell on the wrong side, and a difference in microseconds was read from
    the timestamp's text (null for most). The other datediff parts are dbt-spark's. -#}
{% macro spark__dateadd(datepart, interval, from_date_or_timestamp) -%}
    timestampadd({{ datepart | upper }}, {{ interval }}, {{ from_date_or_timestamp }})
{%- endmacro %}

{% macro spark__datediff(first_date, second_date, datepart) -%}
  {%- if datepart == 'microsecond' -%}
    (unix_micros(cast({{ second_date }} as timestamp)) - unix_micros(cast({{ first_date }} as timestamp)))
  {%- else -%}
    {{ dbt.spark__datediff(first_date, second_date, datepart) }}
  {%- endif -%}
{%- endmacro %}
