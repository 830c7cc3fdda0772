{#- Item features of points (item_id, point_ts): static attributes from `items` (item_id,
    category, brand, price, created_at), activity windows and target encodings of the item
    (CTR, CVR) and its brand (CTR). Emits CTEs ending in `name`: the points' columns, the
    counts below and the features. Reads int_features__item_stream,
    int_features__brand_stream and int_features__global_stream. -#}
{% macro pit_item_features(name, points, items) -%}
{{ name }}__static as (
    select
        points.*,
        items.category as item_category,
        items.brand as item_brand,
        items.price as item_price,
        {{ pit_days_since('items.created_at', 'points.point_ts') }} as item_age_days
    from {{ points }} as points
    left join {{ items }} as items on points.item_id = items.item_id
),

{{ pit_window_counts(name ~ '__item_counts', name ~ '__static', ref('int_features__item_stream'), ['item_id'], {
    'item_impressions_1h': ['impressions', '1h'], 'item_clicks_1h': ['clicks', '1h'],
    'item_impressions_1d': ['impressions', '1d'], 'item_clicks_1d': ['clicks', '1d'],
    'item_impressions_all': ['impressions', 'all'], 'item_clicks_all': ['clicks', 'all'],
    'item_purchases_all': ['purchases', 'all'],
}) }},

{{ pit_window_counts(name ~ '__brand_counts', name ~ '__item_counts', ref('int_features__brand_stream'), ['item_brand'], {
    'item_brand_impressions_all': ['impressions', 'all'], 'item_brand_clicks_all': ['clicks', 'all'],
}) }},

{{ pit_window_counts(name ~ '__global_counts', name ~ '__brand_counts', ref('int_features__global_stream'), [], {
    'global_impressions_all': ['impressions', 'all'], 'global_clicks_all': ['clicks', 'all'],
    'global_purchases_all': ['purchases', 'all'],
}) }},

{{ name }} as (
    select
        *,
        {{ pit_rate('item_clicks_1h', 'item_impressions_1h') }} as item_ctr_1h,
        {{ pit_rate('item_clicks_1d', 'item_impressions_1d') }} as item_ctr_1d,
        {{ pit_target_encoding('item_clicks_all', 'item_impressions_all',
                               'global_clicks_all', 'global_impressions_all') }} as item_id_te_ctr,
        {{ pit_target_encoding('item_purchases_all', 'item_impressions_all',
                               'global_purchases_all', 'global_impressions_all') }} as item_id_te_cvr,
        {{ pit_target_encoding('item_brand_clicks_all', 'item_brand_impressions_all',
                               'global_clicks_all', 'global_impressions_all') }} as item_brand_te_ctr
    from {{ name }}__global_counts
)
{%- endmacro %}
