{#- User x item category features of points (user_id, item_category, point_ts,
    user_clicks_30d), user_clicks_30d being pit_user_features' value for the same
    (user_id, point_ts). Emits CTEs ending in `name`: the points' columns, the counts and
    the features. Reads int_features__user_category_stream. -#}
{% macro pit_user_category_features(name, points) -%}
{{ pit_window_counts(name ~ '__counts', points, ref('int_features__user_category_stream'), ['user_id', 'item_category'], {
    'user_category_impressions_30d': ['impressions', '30d'], 'user_category_clicks_30d': ['clicks', '30d'],
}) }},

{{ name }} as (
    select
        *,
        {{ pit_rate('user_category_clicks_30d', 'user_clicks_30d') }} as user_category_click_share_30d
    from {{ name }}__counts
)
{%- endmacro %}
