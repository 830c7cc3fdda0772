{#- Fails on every group where sum(numerator) / sum(denominator) exceeds max_ratio, e.g.
    the share of rejected rows per entity. -#}
{% test ratio_at_most(model, numerator, denominator, max_ratio, group_by=[]) %}

select
    {%- for column in group_by %}
    {{ column }},
    {%- endfor %}
    sum({{ numerator }}) as numerator,
    sum({{ denominator }}) as denominator,
    1.0 * sum({{ numerator }}) / sum({{ denominator }}) as ratio,
    {{ max_ratio }} as max_ratio
from {{ model }}
{%- if group_by %}
group by {{ group_by | join(', ') }}
{%- endif %}
having sum({{ denominator }}) > 0
   and 1.0 * sum({{ numerator }}) / sum({{ denominator }}) > {{ max_ratio }}

{% endtest %}
