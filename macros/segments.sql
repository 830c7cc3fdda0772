{#- The age segments the evaluation marts slice by, defined once (offline metrics, delayed
    feedback): young_label while event_ts is within `days` of start_ts, else old_label;
    'unknown' where the dimension has no start. A user is new for var offline_new_user_days
    after signup, an item cold-start for var offline_cold_start_days after it entered the
    catalog. -#}
{% macro age_segment(event_ts, start_ts, days, young_label, old_label) -%}
    case
        when {{ start_ts }} is null then 'unknown'
        when {{ event_ts }} < {{ dbt.dateadd('day', days, start_ts) }} then '{{ young_label }}'
        else '{{ old_label }}'
    end
{%- endmacro %}
