{#- A table: an aggregate that several tests read; each read of a view would reopen every
    landing file. -#}
{{ config(materialized='table') }}
{%- set reasons = var('landing_reject_reasons') -%}

-- raw rows straight from the files, independent of the validation logic they check
with raw_file_counts as (

    {%- for entity in landing_entities() %}
    select '{{ entity }}' as entity, date as landed_date, filename as source_file, count(*) as raw_rows
    from {{ landing_relation(entity) }}
    group by date, filename
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),

-- a file stored in a lossless other encoding (base_landing__files.coerced_columns)
raw_counts as (

    select
        raw_file_counts.entity,
        raw_file_counts.landed_date,
        sum(raw_file_counts.raw_rows) as raw_rows,
        sum(case when files.coerced_columns is not null then raw_file_counts.raw_rows else 0 end) as coerced_rows
    from raw_file_counts
    left join {{ ref('base_landing__files') }} as files
        on raw_file_counts.entity = files.entity
        and raw_file_counts.source_file = files.source_file
    group by raw_file_counts.entity, raw_file_counts.landed_date

),

coercions as (

    select entity, landed_date, {{ dbt.listagg('coerced_columns', "'; '", 'order by coerced_columns') }} as coercions
    from (
        select distinct entity, landed_date, coerced_columns
        from {{ ref('base_landing__files') }}
        where coerced_columns is not null
    ) as kinds
    group by entity, landed_date

),

rejected_counts as (

    {%- for entity in landing_entities() %}
    select
        '{{ entity }}' as entity,
        cast(landed_at as date) as landed_date,
        count(reject_reason) as rejected_rows
        {%- for reason in reasons %},
        count(case when reject_reason = '{{ reason }}' then 1 end) as {{ reason }}_rows
        {%- endfor %}
    from {{ ref('base_landing__' ~ entity) }}
    where reject_reason is not null
    group by cast(landed_at as date)
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),

duplicate_counts as (

    {%- for entity in landing_entities() %}
    select
        '{{ entity }}' as entity,
        cast(landed_at as date) as landed_date,
        count(*) as duplicate_rows,
        count(case when is_conflicting_duplicate then 1 end) as conflicting_duplicate_rows
    from {{ ref('base_landing__' ~ entity ~ '_duplicates') }}
    where delivery_rank > 1
    group by cast(landed_at as date)
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),

-- the staging models' own rows, so the reconciliation checks what consumers read
kept_counts as (

    {%- for entity in landing_entities() %}
    select '{{ entity }}' as entity, cast(landed_at as date) as landed_date, count(*) as kept_rows
    from {{ ref('stg_landing__' ~ entity) }}
    group by cast(landed_at as date)
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),

-- one row per entity x day with every count, whichever of them a day has
staged_counts as (

    select
        entity,
        landed_date,
        sum(kept_rows) as kept_rows,
        sum(duplicate_rows) as duplicate_rows,
        sum(conflicting_duplicate_rows) as conflicting_duplicate_rows,
        sum(rejected_rows) as rejected_rows
        {%- for reason in reasons %},
        sum({{ reason }}_rows) as {{ reason }}_rows
        {%- endfor %}
    from (
        select entity, landed_date, kept_rows, 0 as duplicate_rows, 0 as conflicting_duplicate_rows,
            0 as rejected_rows{% for reason in reasons %}, 0 as {{ reason }}_rows{% endfor %}
        from kept_counts
        union all
        select entity, landed_date, 0, duplicate_rows, conflicting_duplicate_rows,
            0{% for reason in reasons %}, 0{% endfor %}
        from duplicate_counts
        union all
        select entity, landed_date, 0, 0, 0,
            rejected_rows{% for reason in reasons %}, {{ reason }}_rows{% endfor %}
        from rejected_counts
    ) as counts
    group by entity, landed_date

),

-- a full join, so a day that only one side sees still shows up and fails reconciliation
renamed as (

    select
        coalesce(raw_counts.entity, staged_counts.entity) as entity,
        coalesce(raw_counts.landed_date, staged_counts.landed_date) as landed_date,
        coalesce(raw_counts.raw_rows, 0) as raw_rows,
        coalesce(raw_counts.coerced_rows, 0) as coerced_rows,
        coercions.coercions,
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
    left join coercions
        on coercions.entity = coalesce(raw_counts.entity, staged_counts.entity)
        and coercions.landed_date = coalesce(raw_counts.landed_date, staged_counts.landed_date)

)

select * from renamed
