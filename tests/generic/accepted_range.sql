{#- Fails on every row whose value is outside [min_value, max_value] (either bound optional;
    *_inclusive = false makes that bound open). Nulls pass: test them with not_null. -#}
{% test accepted_range(model, column_name, min_value=none, max_value=none, min_inclusive=true, max_inclusive=true, where=none) %}

{%- if min_value is none and max_value is none -%}
  {{ exceptions.raise_compiler_error("accepted_range on " ~ column_name ~ ": give min_value, max_value or both") }}
{%- endif %}

select {{ column_name }}
from {{ model }}
where {{ column_name }} is not null
  {%- if where %} and ({{ where }}){% endif %}
  and not (
    {%- if min_value is not none %}
    {{ column_name }} {{ '>=' if min_inclusive else '>' }} {{ min_value }}
    {%- endif %}
    {%- if min_value is not none and max_value is not none %} and{% endif %}
    {%- if max_value is not none %}
    {{ column_name }} {{ '<=' if max_inclusive else '<' }} {{ max_value }}
    {%- endif %}
  )

{% endtest %}
