{#- A dimension from its change events (stg_landing__<entity>): one row per `key` with the
    latest attributes (the newest valid event by ts; ties go to the later delivery). A
    landing zone without such events still gets a row per id the impressions name, with
    null attributes and is_derived, so every mart keyed on the dimension builds; with
    them, an impression of an unlisted id is rejected and `derived` is empty. -#}
{% macro landing_dimension(entity, key) -%}
{%- set attributes = landing_contract_columns(entity) | rejectattr('name', 'in', ['event_id', key, 'ts']) | list -%}
with ranked as (
    select
        *,
        row_number() over (partition by {{ key }} order by ts desc, landed_at desc, event_id desc) as recency_rank
    from {{ ref('stg_landing__' ~ entity) }}
),

logged as (
    select
        {{ key }},
        {%- for column in attributes %}
        {{ column.name }},
        {%- endfor %}
        ts as updated_at,
        false as is_derived
    from ranked
    where recency_rank = 1
),

derived as (
    select distinct
        impressions.{{ key }},
        {%- for column in attributes %}
        {{ dbt.cast('null', column.data_type) }} as {{ column.name }},
        {%- endfor %}
        {{ dbt.cast('null', 'timestamp') }} as updated_at,
        true as is_derived
    from {{ ref('stg_landing__impressions') }} as impressions
    where not exists (select 1 from logged)
)

select * from logged
union all
select * from derived
{%- endmacro %}
