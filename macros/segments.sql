{#- The segments the evaluation marts slice by, defined once (offline metrics, delayed
    feedback): a user is new for var offline_new_user_days after signup, an item is
    cold-start for var offline_cold_start_days after it entered the catalog; unknown where
    the dimension has no row. -#}
{% macro user_tenure_segment(event_ts, signup_at) -%}
    case
        when {{ signup_at }} is null then 'unknown'
        when {{ event_ts }} < {{ dbt.dateadd('day', var('offline_new_user_days'), signup_at) }} then 'new'
        else 'returning'
    end
{%- endmacro %}

{% macro item_freshness_segment(event_ts, created_at) -%}
    case
        when {{ created_at }} is null then 'unknown'
        when {{ event_ts }} < {{ dbt.dateadd('day', var('offline_cold_start_days'), created_at) }} then 'cold_start'
        else 'warm'
    end
{%- endmacro %}
