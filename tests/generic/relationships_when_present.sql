{#- Every non-null value of the column is a `field` of `to`, when `to` has rows: a landing
    zone without a dimension's events derives the dimension from the facts (dim_users,
    dim_items), and then no id can be unknown. Failing rows: the unknown values. -#}
{% test relationships_when_present(model, column_name, to, field) %}

select child.{{ column_name }}
from {{ model }} as child
left join {{ to }} as parent
    on child.{{ column_name }} = parent.{{ field }}
where child.{{ column_name }} is not null
  and parent.{{ field }} is null
  and exists (select 1 from {{ to }})

{% endtest %}
