{#- Fails (one row) when more than max_rate of the rows have a null in the column; an empty
    model passes. With allow_absent, a column no row populates passes too: an optional
    contract column a landing zone does not carry (a served score, a currency) is absent,
    not broken, and the build's landing notice says so. -#}
{% test not_null_rate(model, column_name, max_rate, allow_absent=false) %}

with rates as (

    select
        count(*) as n_rows,
        sum(case when {{ column_name }} is null then 1 else 0 end) as n_nulls
    from {{ model }}

)

select n_rows, n_nulls, 1.0 * n_nulls / n_rows as null_rate, {{ max_rate }} as max_rate
from rates
where n_rows > 0 and 1.0 * n_nulls / n_rows > {{ max_rate }}
{%- if allow_absent %}
  and n_nulls < n_rows
{%- endif %}

{% endtest %}
