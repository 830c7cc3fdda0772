{#- A table: an aggregate that several tests read; each read of a view would reopen every
    landing file. -#}
{{ config(materialized='table') }}
{%- set reasons = var('landing_reject_reasons') -%}

-- raw rows straight from the files, independent of the validation logic they check
with raw_counts as (

    {%- for entity in landing_entities() %}
    select '{{ entity }}' as entity, date as landed_date, count(*) as raw_rows
    from {{ source('landing', entity) }}
    group by date
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),

staged as (

    {%- for entity in landing_entities() %}
    select '{{ entity }}' as entity, landed_at, reject_reason, delivery_rank, is_conflicting_duplicate
    from {{ ref('base_landing__' ~ entity) }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),

staged_counts as (

    select
        entity,
        cast(landed_at as date) as landed_date,
        count(case when delivery_rank = 1 then 1 end) as kept_rows,
        count(case when delivery_rank > 1 then 1 end) as duplicate_rows,
        count(case when is_conflicting_duplicate then 1 end) as conflicting_duplicate_rows,
        count(case when reject_reason is not null then 1 end) as rejected_rows
        {%- for reason in reasons %},
        count(case when reject_reason = '{{ reason }}' then 1 end) as {{ reason }}_rows
        {%- endfor %}
    from staged
    group by entity, cast(landed_at as date)

),

-- a full join, so a day that only one side sees still shows up and fails reconciliation
renamed as (

    select
        coalesce(raw_counts.entity, staged_counts.entity) as entity,
        coalesce(raw_counts.landed_date, staged_counts.landed_date) as landed_date,
        coalesce(raw_counts.raw_rows, 0) as raw_rows,
        coalesce(staged_counts.kept_rows, 0) as kept_rows,
        coalesce(staged_counts.duplicate_rows, 0) as duplicate_rows,
        coalesce(staged_counts.conflicting_duplicate_rows, 0) as conflicting_duplicate_rows,
        coalesce(staged_counts.rejected_rows, 0) as rejected_rows
        {%- for reason in reasons %},
        coalesce(staged_counts.{{ reason }}_rows, 0) as {{ reason }}_rows
        {%- endfor %}
    from raw_counts
    full outer join staged_counts
        on raw_counts.entity = staged_counts.entity
        and raw_counts.landed_date = staged_counts.landed_date

)

select * from renamed
