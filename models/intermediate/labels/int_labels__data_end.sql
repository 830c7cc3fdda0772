-- One row: as_of, the data's end against which label maturity is judged: the var as_of
-- when set, else the end of the newest arrival hour holding an impressions, clicks or
-- conversions file (read from the file list, not the rows: it is the warehouse's clock).
with newest_hour as (
    select max({{ dbt.dateadd('hour', 'landed_hour', dbt.cast('landed_date', 'timestamp')) }}) as landed_at
    from {{ ref('base_landing__files') }}
    where entity in ('impressions', 'clicks', 'conversions')
)

select
    {% if var('as_of') -%}
    cast('{{ var("as_of") }}' as timestamp)
    {%- else -%}
    {{ dbt.dateadd('hour', 1, 'landed_at') }}
    {%- endif %} as as_of
from newest_hour
