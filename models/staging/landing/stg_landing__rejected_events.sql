{#- A table: eight tests read it, and each read of a view would reopen every landing file
    through every entity's validation. -#}
{{ config(materialized='table') }}
with source as (

    {%- for entity in landing_entities() %}
    select '{{ entity }}' as entity, event_id, reject_reason, landed_at, source_file, file_row_number, payload
    from {{ ref('base_landing__' ~ entity) }}
    where reject_reason is not null
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),

renamed as (

    select
        entity,
        event_id,
        reject_reason as reason,
        landed_at,
        source_file,
        file_row_number,
        payload
    from source

)

select * from renamed
