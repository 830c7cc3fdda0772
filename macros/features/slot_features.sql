{#- Every ranking feature (receval.models.features: CATEGORICAL + DENSE) of `slots`, rows
    to score: request_id, user_id, item_id, position, point_ts (when the request's list was
    served) and context_ts (the hour of day is read from it), plus any columns of the
    caller's. `users`, `items` and `requests` (request_id, device) are the relations the
    static attributes come from. Emits CTEs ending in `name`: the slots' columns and the
    features. int_features__impression_features (the shown slots) and int_cf__candidate_features
    (every logged retrieval candidate of a request) both call it, so a candidate is scored
    on exactly the features the models were trained on. The group macros read
    the int_features__*_stream tables. -#}
{% macro pit_slot_features(name, slots, users, items, requests) -%}
-- Each feature group runs on its own narrow points (the ASOF joins move only keys and
-- timestamps), joined back to the slots at the end. User features are a property of the
-- request: computed once per list.
{{ name }}__request_points as (
    select request_id, user_id, min(point_ts) as point_ts
    from {{ slots }}
    group by request_id, user_id
),

{{ pit_user_features(name ~ '__users', name ~ '__request_points', users) }},

{{ pit_user_recent_items(name ~ '__user_recent', name ~ '__users') }},

{{ name }}__item_points as (
    select distinct item_id, point_ts from {{ slots }}
),

{{ pit_item_features(name ~ '__items', name ~ '__item_points', items) }},

{{ name }}__user_category_points as (
    select distinct slots.user_id, items.category as item_category, slots.point_ts, users.user_clicks_30d
    from {{ slots }} as slots
    left join {{ items }} as items on slots.item_id = items.item_id
    inner join {{ name }}__users as users
        on slots.request_id = users.request_id
        and slots.user_id = users.user_id
),

{{ pit_user_category_features(name ~ '__user_categories', name ~ '__user_category_points') }},

{{ name }} as (
    select
        slots.*,
        -- context
        coalesce(requests.device, 'unknown') as device,
        cast(extract(hour from slots.context_ts) as integer) as hour_of_day,
        -- item
        items.item_category,
        items.item_brand,
        items.item_price,
        items.item_age_days,
        items.item_impressions_1h,
        items.item_ctr_1h,
        items.item_impressions_1d,
        items.item_ctr_1d,
        items.item_id_te_ctr,
        items.item_id_te_cvr,
        items.item_brand_te_ctr,
        -- user
        users.user_country,
        users.user_tenure_days,
        users.user_impressions_7d,
        users.user_ctr_7d,
        users.user_impressions_30d,
        users.user_ctr_30d,
        users.user_id_te_ctr,
        users.user_recent_item_ids,
        {{ pit_item_in_recent('users.user_recent_item_ids', 'slots.item_id') }} as item_in_user_recent,
        -- user x item category
        user_categories.user_category_impressions_30d,
        user_categories.user_category_click_share_30d
    from {{ slots }} as slots
    inner join {{ name }}__user_recent as users
        on slots.request_id = users.request_id
        and slots.user_id = users.user_id
    inner join {{ name }}__items as items
        on slots.item_id = items.item_id
        and slots.point_ts = items.point_ts
    -- the category from the small items relation, not from the item features: joined on
    -- the features' category, the user x category rows met the slots by (user, time) alone
    -- first, one row per category of the request (8x the rows on the large world)
    left join {{ items }} as slot_items on slots.item_id = slot_items.item_id
    inner join {{ name }}__user_categories as user_categories
        on slots.user_id = user_categories.user_id
        and slot_items.category is not distinct from user_categories.item_category
        and slots.point_ts = user_categories.point_ts
    left join {{ requests }} as requests on slots.request_id = requests.request_id
)
{%- endmacro %}


{#- The feature columns pit_slot_features emits, in the contract's groups (context, item,
    user, user x item category): int_features__impression_features selects them and
    int_features__impressions carries them beside the labels. -#}
{% macro pit_feature_columns() -%}
  {{ return(['position', 'device', 'hour_of_day',
             'item_category', 'item_brand', 'item_price', 'item_age_days', 'item_impressions_1h',
             'item_ctr_1h', 'item_impressions_1d', 'item_ctr_1d', 'item_id_te_ctr', 'item_id_te_cvr',
             'item_brand_te_ctr',
             'user_country', 'user_tenure_days', 'user_impressions_7d', 'user_ctr_7d',
             'user_impressions_30d', 'user_ctr_30d', 'user_id_te_ctr', 'user_recent_item_ids',
             'item_in_user_recent',
             'user_category_impressions_30d', 'user_category_click_share_30d']) }}
{%- endmacro %}
