{#- User features of points (user_id, point_ts): static attributes from `users` (user_id,
    country, signup_at), activity windows and the user's target-encoded CTR. Emits CTEs
    ending in `name`: the points' columns, the counts below and the features. Reads
    int_features__user_stream and int_features__global_stream. user_clicks_30d is the
    denominator of user_category_click_share_30d (pit_user_category_features). -#}
{% macro pit_user_features(name, points, users) -%}
{{ pit_window_counts(name ~ '__user_counts', points, ref('int_features__user_stream'), ['user_id'], {
    'user_impressions_7d': ['impressions', '7d'], 'user_clicks_7d': ['clicks', '7d'],
    'user_impressions_30d': ['impressions', '30d'], 'user_clicks_30d': ['clicks', '30d'],
    'user_impressions_all': ['impressions', 'all'], 'user_clicks_all': ['clicks', 'all'],
}) }},

{{ pit_window_counts(name ~ '__global_counts', name ~ '__user_counts', ref('int_features__global_stream'), [], {
    'global_impressions_all': ['impressions', 'all'], 'global_clicks_all': ['clicks', 'all'],
}) }},

{{ name }} as (
    select
        points.*,
        users.country as user_country,
        {{ pit_days_since('users.signup_at', 'points.point_ts') }} as user_tenure_days,
        {{ pit_rate('points.user_clicks_7d', 'points.user_impressions_7d') }} as user_ctr_7d,
        {{ pit_rate('points.user_clicks_30d', 'points.user_impressions_30d') }} as user_ctr_30d,
        {{ pit_target_encoding('points.user_clicks_all', 'points.user_impressions_all',
                               'points.global_clicks_all', 'points.global_impressions_all') }}
            as user_id_te_ctr
    from {{ name }}__global_counts as points
    left join {{ users }} as users on points.user_id = users.user_id
)
{%- endmacro %}
