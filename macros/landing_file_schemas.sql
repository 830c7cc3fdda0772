{#- base_landing__file_columns: one row per (entity, file, top-level column) of the landing
    zone. Spark's (macros/landing_spark.sql) lists the whole zone at once. -#}
{% macro landing_file_columns() -%}
  {{ return(adapter.dispatch('landing_file_columns', 'receval')()) }}
{%- endmacro %}

{% macro default__landing_file_columns() -%}
{#- An absent optional entity has no files to read the schemas of. -#}
{%- for entity in landing_entities() if not landing_is_absent(entity) %}
select '{{ entity }}' as entity, file_schema.*
from ({{ landing_file_schemas(entity) }}) as file_schema
{%- if not loop.last %}
union all
{%- endif %}
{%- endfor %}
{%- endmacro %}


{#- One row per (file, top-level column) of an entity's landing files: source_file,
    landed_date and landed_hour (from the hive path), column_name, data_type (engine type
    names, as in seeds/landing_contract.csv), file_size and file_modified_at (to the
    millisecond: by them Spark's variant knows a file it has read before). Reads only the
    Parquet footers and the files' sizes and times; same path pattern as the `landing`
    source's reader. -#}
{% macro landing_file_schemas(entity) -%}
  {{ return(adapter.dispatch('landing_file_schemas', 'receval')(entity)) }}
{%- endmacro %}

{% macro duckdb__landing_file_schemas(entity) -%}
{%- set files = var("raw_path") ~ '/' ~ entity ~ '/date=*/hour=*/*.parquet' %}
select
    footer.file_name as source_file,
    cast(regexp_extract(footer.file_name, '/date=([0-9-]+)/', 1) as date) as landed_date,
    cast(regexp_extract(footer.file_name, '/hour=([0-9]+)/', 1) as integer) as landed_hour,
    footer.name as column_name,
    footer.duckdb_type as data_type,
    landed.size as file_size,
    cast(date_trunc('millisecond', landed.last_modified) as timestamp) as file_modified_at
from parquet_schema('{{ files }}') as footer
-- the file's size and time only: read_blob does not read the content it is not asked for
inner join read_blob('{{ files }}') as landed
    on footer.file_name = landed.filename
-- the root element of each footer is not a column
where footer.duckdb_type is not null
{%- endmacro %}

{% macro default__landing_file_schemas(entity) -%}
  {{ exceptions.raise_compiler_error(
      "landing_file_schemas has no implementation for " ~ adapter.type() ~ ": add a "
      ~ adapter.type() ~ "__landing_file_schemas macro that lists each landing file's columns "
      ~ "and types, so files with a broken schema can be rejected as schema_mismatch.") }}
{%- endmacro %}


{#- One row per (file, column) of the given landing files: the smallest and largest value
    (as decimal(38, 0)) from the Parquet footer's statistics, and whether every row group
    carries them. Read for the columns a narrowing cast (seeds/landing_lossless_casts.csv)
    must check; footers only. -#}
{% macro landing_file_value_ranges(files) -%}
  {{ return(adapter.dispatch('landing_file_value_ranges', 'receval')(files)) }}
{%- endmacro %}

{% macro duckdb__landing_file_value_ranges(files) -%}
select
    file_name as source_file,
    path_in_schema as column_name,
    min(try_cast(stats_min_value as decimal(38, 0))) as min_value,
    max(try_cast(stats_max_value as decimal(38, 0))) as max_value,
    -- a row group of nulls only has no min / max to check
    bool_and(stats_null_count = num_values or (stats_min_value is not null and stats_max_value is not null)) as has_statistics
from parquet_metadata([{% for file in files %}'{{ file }}'{% if not loop.last %}, {% endif %}{% endfor %}])
group by file_name, path_in_schema
{%- endmacro %}

{% macro default__landing_file_value_ranges(files) -%}
  {#- Without footer statistics no narrowing cast is proven lossless: such a file stays a
      schema_mismatch. -#}
select
    {{ dbt.cast('null', dbt.type_string()) }} as source_file,
    {{ dbt.cast('null', dbt.type_string()) }} as column_name,
    {{ dbt.cast('null', 'decimal(38, 0)') }} as min_value,
    {{ dbt.cast('null', 'decimal(38, 0)') }} as max_value,
    false as has_statistics
where 1 = 0
{%- endmacro %}


{% macro landing_range_checked_files() -%}
  {#- The landing files whose columns need a narrowing cast (a min_value in
      seeds/landing_lossless_casts.csv), so their footer statistics are read; usually none.
      Queried while base_landing__files runs, from the tables it reads. -#}
  {%- if not execute -%}{{ return([]) }}{%- endif -%}
  {%- set found = run_query(
      "select distinct file_columns.source_file from " ~ ref('base_landing__file_columns') ~ " as file_columns"
      ~ " inner join " ~ ref('landing_contract') ~ " as contract on file_columns.entity = contract.entity"
      ~ " and file_columns.column_name = contract.column_name"
      ~ " inner join " ~ ref('landing_lossless_casts') ~ " as casts on file_columns.data_type = casts.from_type"
      ~ " and contract.data_type = casts.to_type where casts.min_value is not null order by 1") -%}
  {{ return(found.columns[0].values() | list) }}
{%- endmacro %}
