{#- Fails (one row) when more than max_rate of the rows have a null in the column; an empty
    model passes. -#}
{% test not_null_rate(model, column_name, max_rate) %}

with rates as (

    select
        count(*) as n_rows,
        sum(case when {{ column_name }} is null then 1 else 0 end) as n_nulls
    from {{ model }}

)

select n_rows, n_nulls, 1.0 * n_nulls / n_rows as null_rate, {{ max_rate }} as max_rate
from rates
where n_rows > 0 and 1.0 * n_nulls / n_rows > {{ max_rate }}

{% endtest %}
