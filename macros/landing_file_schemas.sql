{#- One row per (file, top-level column) of an entity's landing files: source_file,
    landed_date and landed_hour (from the hive path), column_name, data_type (engine type
    names, as in seeds/landing_contract.csv). Reads only the Parquet footers; same path
    pattern as the `landing` source's reader. -#}
{% macro landing_file_schemas(entity) -%}
  {{ return(adapter.dispatch('landing_file_schemas', 'receval')(entity)) }}
{%- endmacro %}

{% macro duckdb__landing_file_schemas(entity) -%}
select
    file_name as source_file,
    cast(regexp_extract(file_name, '/date=([0-9-]+)/', 1) as date) as landed_date,
    cast(regexp_extract(file_name, '/hour=([0-9]+)/', 1) as integer) as landed_hour,
    name as column_name,
    duckdb_type as data_type
from parquet_schema('{{ var("raw_path") }}/{{ entity }}/date=*/hour=*/*.parquet')
{%- endmacro %}

{% macro default__landing_file_schemas(entity) -%}
  {{ exceptions.raise_compiler_error(
      "landing_file_schemas has no implementation for " ~ adapter.type() ~ ": add a "
      ~ adapter.type() ~ "__landing_file_schemas macro that lists each landing file's columns "
      ~ "and types, so files with a broken schema can be rejected as schema_mismatch.") }}
{%- endmacro %}
