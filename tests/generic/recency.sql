{#- Fails (one row) when the latest value of field is more than `interval` dateparts before
    the reference timestamp (a SQL literal or expression; none: the current time). -#}
{% test recency(model, field, interval, datepart='hour', reference=none) %}

{%- set reference_sql = dbt.current_timestamp() if reference in (none, '', 'None')
                        else dbt.cast("'" ~ reference ~ "'", api.Column.translate_type('timestamp')) %}

with latest as (

    select max({{ field }}) as latest_value from {{ model }}

)

select latest_value, {{ reference_sql }} as reference_value
from latest
where latest_value is null
   or latest_value < {{ dbt.dateadd(datepart, -1 * interval | int, reference_sql) }}

{% endtest %}
