{#- Publish a mart as Parquet for BI tools, which must not hold the .duckdb file open
    (that would block the next `dbt build`). DuckDB writes to a temporary file and renames
    it over the old one (use_tmp_file), so a reader never sees a half-written mart. On
    engines whose tables already live in open formats (Spark, Databricks) there is nothing
    to do. -#}
{% macro publish_parquet() -%}
  {{ return(adapter.dispatch('publish_parquet', 'receval')()) }}
{%- endmacro %}

{% macro default__publish_parquet() -%}
  select 1
{%- endmacro %}

{% macro duckdb__publish_parquet() -%}
  {%- set target_file = var('marts_path') ~ '/' ~ this.identifier ~ '.parquet' -%}
  copy (select * from {{ this }}) to '{{ target_file }}' (format parquet, compression zstd, use_tmp_file true)
{%- endmacro %}
