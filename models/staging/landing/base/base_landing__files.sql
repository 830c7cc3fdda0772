{#- A table: every base model joins it. -#}
{{ config(materialized='table') }}

with contract as (

    select entity, column_name, data_type from {{ ref('landing_contract') }}

),

file_columns as (

    select * from {{ ref('base_landing__file_columns') }}

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
        file_columns.data_type is null or file_columns.data_type <> contract.data_type as is_mismatch
    from files
    inner join contract
        on files.entity = contract.entity
    left join file_columns
        on files.entity = file_columns.entity
        and files.source_file = file_columns.source_file
        and contract.column_name = file_columns.column_name

)

select
    entity,
    source_file,
    landed_date,
    landed_hour,
    -- delivery order of the files: arrival partition, then file name
    row_number() over (partition by entity order by landed_date, landed_hour, source_file) as file_ordinal,
    max(case when is_mismatch then 1 else 0 end) = 1 as has_schema_mismatch,
    {{ dbt.listagg(
        "case when is_mismatch then column_name || ':' || coalesce(file_data_type, 'missing') end",
        "', '", "order by column_name") }} as mismatched_columns
from checked
group by entity, source_file, landed_date, landed_hour
