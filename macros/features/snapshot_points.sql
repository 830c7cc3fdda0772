{#- The points of an online snapshot: one per row of `entities` (its `key`) at the data's
    end, point_ts = the as_of of `data_end` (int_labels__data_end). -#}
{% macro pit_snapshot_points(entities, key, data_end) -%}
    select entities.{{ key }}, data_end.as_of as point_ts
    from {{ entities }} as entities
    cross join {{ data_end }} as data_end
{%- endmacro %}
