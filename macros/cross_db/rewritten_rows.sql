{#- In an incremental model's run: the rows to build again, given `keys` (a query of the unique
    keys of the rows whose values can have changed) and `days` (a query of the day
    partitions those rows lie in). The engine's incremental strategy decides the grain:
    delete+insert (DuckDB) replaces rows by key, so those rows alone; insert_overwrite
    (Spark's Parquet tables, which cannot delete) replaces whole day partitions, so every
    row of a day holding one. Each engine reads only its own query. -#}
{% macro rewritten_rows(key, keys, day, days) -%}
  {{ return(adapter.dispatch('rewritten_rows', 'receval')(key, keys, day, days)) }}
{%- endmacro %}

{% macro default__rewritten_rows(key, keys, day, days) -%}
    {{ key }} in ({{ keys }})
{%- endmacro %}

{% macro spark__rewritten_rows(key, keys, day, days) -%}
    {{ day }} in ({{ days }})
{%- endmacro %}
