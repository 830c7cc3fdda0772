{#- A table: every base model joins it.
    Each contract column of each file is exact (the contract's type), coerced (a lossless
    cast of seeds/landing_lossless_casts.csv, within range where it narrows), absent (a
    non-key column the file does not carry: read as null) or a mismatch (a missing key
    column, or any other type): one mismatch rejects the whole file. Columns outside the
    contract are listed and ignored. -#}
{{ config(materialized='table') }}

{%- set range_checked_files = landing_range_checked_files() %}

with contract as (

    select entity, column_name, data_type, is_key from {{ ref('landing_contract') }}

),

file_columns as (

    select * from {{ ref('base_landing__file_columns') }}

),

casts as (

    select * from {{ ref('landing_lossless_casts') }}

),

value_ranges as (
    {%- if range_checked_files %}

    {{ landing_file_value_ranges(range_checked_files) }}
    {%- else %}

    {{ default__landing_file_value_ranges([]) }}
    {%- endif %}

),

files as (

    select distinct entity, source_file, landed_date, landed_hour from file_columns

),

-- every contract column of every file, with the type the file gives it (null: missing)
checked as (

    select
        files.entity,
        files.source_file,
        files.landed_date,
        files.landed_hour,
        contract.column_name,
        file_columns.data_type as file_data_type,
        case
            when file_columns.data_type = contract.data_type then 'exact'
            when file_columns.data_type is null and not contract.is_key then 'absent'
            when casts.coercion is not null and casts.min_value is null then 'coerced'
            when casts.coercion is not null and value_ranges.has_statistics
                and coalesce(value_ranges.min_value >= casts.min_value and value_ranges.max_value <= casts.max_value, true)
                then 'coerced'
            else 'mismatch'
        end as status,
        casts.coercion,
        casts.min_value is not null as is_narrowing
    from files
    inner join contract
        on files.entity = contract.entity
    left join file_columns
        on files.entity = file_columns.entity
        and files.source_file = file_columns.source_file
        and contract.column_name = file_columns.column_name
    left join casts
        on file_columns.data_type = casts.from_type
        and contract.data_type = casts.to_type
    left join value_ranges
        on files.source_file = value_ranges.source_file
        and contract.column_name = value_ranges.column_name

),

extra as (

    select file_columns.entity, file_columns.source_file, file_columns.column_name
    from file_columns
    left join contract
        on file_columns.entity = contract.entity
        and file_columns.column_name = contract.column_name
    where contract.column_name is null

),

per_file as (

    select
        entity,
        source_file,
        landed_date,
        landed_hour,
        max(case when status = 'mismatch' then 1 else 0 end) = 1 as has_schema_mismatch,
        {{ dbt.listagg(
            "case when status = 'mismatch' then column_name || ':' || coalesce(file_data_type, 'missing')"
            ~ " || case when is_narrowing then ' (values outside the contract type)' else '' end end",
            "', '", "order by column_name") }} as mismatched_columns,
        {{ dbt.listagg(
            "case when status = 'coerced' then column_name || ':' || file_data_type || ' (' || coercion || ')' end",
            "', '", "order by column_name") }} as coerced_columns,
        {{ dbt.listagg("case when status = 'absent' then column_name end", "', '", "order by column_name") }}
            as absent_columns
    from checked
    group by entity, source_file, landed_date, landed_hour

),

extra_per_file as (

    select entity, source_file, {{ dbt.listagg('column_name', "', '", 'order by column_name') }} as extra_columns
    from extra
    group by entity, source_file

)

select
    per_file.entity,
    per_file.source_file,
    per_file.landed_date,
    per_file.landed_hour,
    -- delivery order of the files: arrival partition, then file name
    row_number() over (partition by per_file.entity order by per_file.landed_date, per_file.landed_hour, per_file.source_file) as file_ordinal,
    per_file.has_schema_mismatch,
    per_file.mismatched_columns,
    -- a rejected file is not coerced
    case when not per_file.has_schema_mismatch then per_file.coerced_columns end as coerced_columns,
    per_file.absent_columns,
    extra_per_file.extra_columns
from per_file
left join extra_per_file
    on per_file.entity = extra_per_file.entity
    and per_file.source_file = extra_per_file.source_file
