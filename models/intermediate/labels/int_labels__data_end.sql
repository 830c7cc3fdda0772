-- One row: the data's end (as_of), against which label maturity is judged, and the last
-- impression date, from which the time-based splits count back. as_of is the var when
-- set, else the end of the newest arrival hour holding an impression, click or purchase.
with landed as (
    select max(landed_at) as landed_at from {{ ref('stg_landing__impressions') }}
    union all
    select max(landed_at) from {{ ref('stg_landing__clicks') }}
    union all
    select max(landed_at) from {{ ref('stg_landing__conversions') }}
)

select
    {% if var('as_of') -%}
    cast('{{ var("as_of") }}' as timestamp)
    {%- else -%}
    {{ dbt.dateadd('hour', 1, '(select max(landed_at) from landed)') }}
    {%- endif %} as as_of,
    (select cast(max(ts) as date) from {{ ref('stg_landing__impressions') }}) as last_impression_date
