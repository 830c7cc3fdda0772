{#- Fails on every row (e.g. entity x day of a counts model) where total_column differs
    from the sum of part_columns: rows in = rows out, nothing silently dropped. -#}
{% test row_count_reconciliation(model, total_column, part_columns) %}

select
    *,
    {{ total_column }} - ({{ part_columns | join(' + ') }}) as unaccounted_rows
from {{ model }}
where {{ total_column }} <> {{ part_columns | join(' + ') }}
   or {{ total_column }} is null

{% endtest %}
