{#- The landing zone on Spark. Spark SQL cannot read one Parquet footer on its own, and a
    read of an entity's folder merges every file's schema (failing on a file whose
    `position` is a string), so:
    - spark__landing_file_columns lists every landing file once and
      reads the schemas of a batch of files at a time, as the column types of
      `describe query` over one struct per file (analysed, never run). Each file costs
      Spark a job of its own in the driver (about 0.05 s), so a file the table already
      holds, with the same path, size and modification time, keeps its remembered columns
      and only new or rewritten files are read (all of them with --full-refresh);
    - spark__landing_reader reads each group of files that share a schema with its own
      scan, typed to the contract, and unions the groups, so a file with a broken schema
      is still read and rejected row by row (base_landing__files flags it). -#}

{% macro spark__landing_file_columns() -%}
  {%- if not execute %}{{ return('') }}{% endif -%}
  {#- binaryFile lists the files without reading them (nor their rows, as a Parquet scan of
      `_metadata` would) -#}
  {%- set listing = run_query(
      "select path, cast(length as string), " ~ spark_file_time('modificationTime')
      ~ " from binaryFile.`" ~ var('raw_path') ~ "/*/date=*/hour=*/*.parquet`") -%}
  {%- set remembered = spark_remembered_file_columns() -%}
  {%- set rows = [] -%}
  {%- set unread = [] -%}
  {%- for file, size, modified in listing.rows | sort(attribute='0') -%}
    {%- set entity = file.split('/')[-4] -%}
    {%- set path = spark_landing_file_name(file, entity) -%}
    {%- set columns = remembered.get(path ~ '|' ~ size ~ '|' ~ modified) -%}
    {%- if columns is none -%}
      {%- do unread.append((file, entity, path, size, modified)) -%}
    {%- endif -%}
    {%- for column in columns or [] -%}
      {%- do rows.append(spark_file_column_row(entity, path, size, modified, column.column_name, column.data_type)) -%}
    {%- endfor -%}
  {%- endfor -%}
  {%- for batch in unread | batch(var('spark_schema_batch_files')) -%}
    {%- set scans = [] -%}
    {%- for file, _, _, _, _ in batch -%}
      {%- do scans.append('(select struct(*) as f' ~ loop.index0 ~ ' from parquet.`' ~ file ~ '`)') -%}
    {%- endfor -%}
    {%- set described = run_query('describe query select * from ' ~ scans | join(' cross join ')) -%}
    {%- for row in described.rows -%}
      {%- set file, entity, path, size, modified = batch[row[0][1:] | int] -%}
      {%- for name, data_type in spark_struct_fields(row[1]) -%}
        {%- do rows.append(spark_file_column_row(entity, path, size, modified, name, spark_contract_type(data_type))) -%}
      {%- endfor -%}
    {%- endfor -%}
  {%- endfor -%}
  {{ log("base_landing__file_columns: " ~ unread | length ~ " of " ~ listing.rows | length
         ~ " landing files read for their schemas, the others remembered") }}
select
    entity,
    source_file,
    cast(regexp_extract(source_file, '/date=([0-9-]+)/', 1) as date) as landed_date,
    cast(regexp_extract(source_file, '/hour=([0-9]+)/', 1) as int) as landed_hour,
    column_name,
    data_type,
    cast(file_size as bigint) as file_size,
    cast(file_modified_at as timestamp) as file_modified_at
from values
    {{ rows | join(',\n    ') if rows else "(null, null, null, null, null, null)" }}
    as file_columns (entity, source_file, file_size, file_modified_at, column_name, data_type)
{%- if not rows %}
where false
{%- endif %}
{%- endmacro %}


{% macro spark_remembered_file_columns() -%}
  {#- {'path|size|modified': [{column_name, data_type}]} of the files the table already
      holds; nothing on a full refresh or where the table predates the file_size column. -#}
  {%- set relation = adapter.get_relation(database=this.database, schema=this.schema, identifier=this.identifier) -%}
  {%- if relation is none or flags.FULL_REFRESH
        or 'file_size' not in adapter.get_columns_in_relation(relation) | map(attribute='name') | list -%}
    {{ return({}) }}
  {%- endif -%}
  {%- set found = run_query(
      "select concat_ws('|', source_file, cast(file_size as string), " ~ spark_file_time('file_modified_at') ~ "),"
      ~ " to_json(collect_list(struct(column_name, data_type))) from " ~ relation ~ " group by 1") -%}
  {%- set remembered = {} -%}
  {%- for key, columns in found.rows -%}
    {%- do remembered.update({key: fromjson(columns)}) -%}
  {%- endfor -%}
  {{ return(remembered) }}
{%- endmacro %}


{% macro spark_file_time(column) -%}
  {#- A file's modification time as text, to the millisecond the file system gives -#}
  {{ return("date_format(" ~ column ~ ", 'yyyy-MM-dd HH:mm:ss.SSS')") }}
{%- endmacro %}


{% macro spark_file_column_row(entity, path, size, modified, column_name, data_type) -%}
  {{ return("('" ~ entity ~ "', '" ~ path ~ "', " ~ size ~ ", '" ~ modified ~ "', '"
            ~ column_name ~ "', '" ~ data_type ~ "')") }}
{%- endmacro %}


{% macro spark_landing_file_name(file, entity) -%}
  {#- A file as DuckDB's reader names it, the raw_path var then the path under it (Spark
      qualifies it: file:/<working directory>/<raw_path>/...). -#}
  {{ return(var('raw_path') ~ file[file.rfind('/' ~ entity ~ '/date=') :]) }}
{%- endmacro %}


{% macro spark_struct_fields(type_string) -%}
  {#- [(name, type)] of a Spark struct type string, struct<a:bigint,b:decimal(38,0)>: split at
      the commas outside <> and () -#}
  {%- set body = type_string[7:-1] -%}
  {%- set state = {'depth': 0, 'start': 0} -%}
  {%- set fields = [] -%}
  {%- for i in range(body | length) -%}
    {%- set c = body[i] -%}
    {%- if c in '<(' %}{% do state.update({'depth': state.depth + 1}) %}{% endif -%}
    {%- if c in '>)' %}{% do state.update({'depth': state.depth - 1}) %}{% endif -%}
    {%- if (c == ',' and state.depth == 0) or loop.last -%}
      {%- set field = body[state.start:(i if c == ',' and state.depth == 0 else i + 1)] -%}
      {%- set name, data_type = field.split(':', 1) -%}
      {%- do fields.append((name | replace('`', ''), data_type)) -%}
      {%- do state.update({'start': i + 1}) -%}
    {%- endif -%}
  {%- endfor -%}
  {{ return(fields) }}
{%- endmacro %}


{% macro spark_contract_type(data_type) -%}
  {#- A Spark type in the names of the contract (seeds/landing_contract.csv), which are
      DuckDB's: a Parquet timestamp adjusted to UTC is Spark's timestamp, DuckDB's
      TIMESTAMP WITH TIME ZONE; a naive one timestamp_ntz and TIMESTAMP. -#}
  {%- set names = {'bigint': 'BIGINT', 'int': 'INTEGER', 'smallint': 'SMALLINT', 'tinyint': 'TINYINT',
                   'double': 'DOUBLE', 'float': 'FLOAT', 'string': 'VARCHAR', 'boolean': 'BOOLEAN',
                   'date': 'DATE', 'timestamp_ntz': 'TIMESTAMP', 'timestamp': 'TIMESTAMP WITH TIME ZONE',
                   'binary': 'BLOB'} -%}
  {{ return(names.get(data_type, data_type | upper)) }}
{%- endmacro %}


{% macro spark__landing_reader(entity) -%}
  {#- One scan per group of the entity's files that share a schema (usually one group: the
      entity's whole folder), each typed to the contract and unioned. The columns the
      landing_base_model reads: the contract's, then date, hour, filename and
      file_row_number as DuckDB's reader gives them. -#}
  {%- set source_relation = source('landing', entity) -%}
  {%- set file_columns = ref('base_landing__file_columns') -%}
  {#- a unit test gives the source's rows and the listing as fixtures (dbt's __dbt__cte__
      inputs): the source's rows are the typed rows -#}
  {%- if not execute or (file_columns | string).startswith('__dbt__cte__') %}{{ return(source_relation) }}{% endif -%}
  {%- set columns = landing_contract_columns(entity) -%}
  {%- set found = run_query(
      "select source_file, concat_ws(',', sort_array(collect_list(column_name || ':' || data_type))) as signature"
      ~ " from " ~ file_columns ~ " where entity = '" ~ entity ~ "'"
      ~ " group by source_file order by source_file") -%}
  {%- set groups = {} -%}
  {%- for file, signature in found.rows -%}
    {%- do groups.setdefault(signature, []).append(file) -%}
  {%- endfor -%}
  {%- set folder = var('raw_path') ~ '/' ~ entity ~ '/' -%}
  {%- set scans = [] -%}
  {%- for signature, files in groups.items() -%}
    {%- set present = [] -%}
    {%- for field in signature.split(',') %}{% do present.append(field.split(':')[0]) %}{% endfor -%}
    {%- set pattern = folder ~ 'date=*/hour=*/*.parquet' if groups | length == 1 else
        folder ~ '{' ~ files | map('replace', folder, '') | join(',') ~ '}' -%}
    {%- set projection = [] -%}
    {%- for column in columns -%}
      {%- do projection.append((try_cast('`' ~ column.name ~ '`', engine_type(column.data_type))
                                 if column.name in present else dbt.cast('null', engine_type(column.data_type)))
                               ~ ' as ' ~ column.name) -%}
    {%- endfor -%}
    {%- do scans.append('select ' ~ projection | join(', ')
        ~ ", cast(regexp_extract(_metadata.file_path, '/date=([0-9-]+)/', 1) as date) as date"
        ~ ", cast(regexp_extract(_metadata.file_path, '/hour=([0-9]+)/', 1) as int) as hour"
        ~ ", regexp_replace(_metadata.file_path, '^.*/" ~ entity ~ "/date=', '" ~ var('raw_path') ~ "/" ~ entity ~ "/date=') as filename"
        ~ ", _metadata.row_index as file_row_number"
        ~ ' from parquet.`' ~ pattern ~ '`') -%}
  {%- endfor -%}
  {{ return('(' ~ scans | join(' union all ') ~ ')') }}
{%- endmacro %}
