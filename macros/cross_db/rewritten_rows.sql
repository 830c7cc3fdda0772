{#- In an incremental model's run: the rows to build again, given `rewrite`, a relation of
    the rows whose values can have changed (rewrite_key: the unique key; rewrite_day: the
    day partition the row lies in). The engine's incremental strategy decides the grain:
    delete+insert (DuckDB) replaces rows by key, so those rows alone; insert_overwrite
    (Spark's Parquet tables, which cannot delete) replaces whole day partitions, so every
    row of a day holding one. -#}
{% macro rewritten_rows(key, day, rewrite) -%}
  {{ return(adapter.dispatch('rewritten_rows', 'receval')(key, day, rewrite)) }}
{%- endmacro %}

{% macro default__rewritten_rows(key, day, rewrite) -%}
    {{ key }} in (select rewrite_key from {{ rewrite }})
{%- endmacro %}

{% macro spark__rewritten_rows(key, day, rewrite) -%}
    {{ day }} in (select rewrite_day from {{ rewrite }})
{%- endmacro %}
