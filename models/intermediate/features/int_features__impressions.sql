-- One row per impression of fct_impression_labels: its labels, split and the point-in-time
-- features the candidate models train on (receval.models.features: CATEGORICAL + DENSE).
-- Every feature is computed as of feature_ts, the moment the impression's list was served
-- (the request's first impression; all of a request's impressions share it), from events
-- strictly before it, each at its own event time: nothing of the same request, no click or
-- purchase that happened at or after feature_ts, counts. The definitions live in
-- macros/point_in_time_features.sql and are shared with the online snapshot marts.
{{ config(materialized='table') }}

with

{{ pit_feature_streams() }},

labels as (
    select
        event_id, request_id, user_id, item_id, position, model_id,
        impression_ts, impression_date, is_clicked, is_converted, is_label_mature
    from {{ ref('fct_impression_labels') }}
),

impressions as (
    select
        labels.*,
        min(labels.impression_ts) over (partition by labels.request_id) as point_ts,
        pit_items.item_category
    from labels
    left join pit_items on labels.item_id = pit_items.item_id
),

-- Each feature group runs on its own narrow points (the ASOF joins move only keys and
-- timestamps), joined back to the impressions at the end. User features are a property of
-- the request: computed once per list.
request_points as (
    select request_id, user_id, min(point_ts) as point_ts
    from impressions
    group by request_id, user_id
),

{{ pit_user_features('user_features', 'request_points') }},

{{ pit_user_recent_items('user_recent', 'user_features') }},

item_points as (
    select distinct item_id, point_ts from impressions
),

{{ pit_item_features('item_features', 'item_points') }},

user_category_points as (
    select distinct impressions.user_id, impressions.item_category, impressions.point_ts, users.user_clicks_30d
    from impressions
    inner join user_features as users
        on impressions.request_id = users.request_id
        and impressions.user_id = users.user_id
),

{{ pit_user_category_features('user_category_features', 'user_category_points') }},

requests as (
    select request_id, device from {{ ref('stg_landing__requests') }}
),

splits as (
    select impression_date, split from {{ ref('dim_split_dates') }}
)

select
    impressions.event_id,
    impressions.request_id,
    impressions.user_id,
    impressions.item_id,
    impressions.impression_ts,
    impressions.impression_date,
    splits.split,
    impressions.model_id,
    impressions.is_clicked,
    impressions.is_converted,
    impressions.is_label_mature,
    impressions.point_ts as feature_ts,
    -- context
    impressions.position,
    coalesce(requests.device, 'unknown') as device,
    cast(extract(hour from impressions.impression_ts) as integer) as hour_of_day,
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
    {{ pit_item_in_recent('users.user_recent_item_ids', 'impressions.item_id') }} as item_in_user_recent,
    -- user x item category
    user_categories.user_category_impressions_30d,
    user_categories.user_category_click_share_30d
from impressions
inner join user_recent as users
    on impressions.request_id = users.request_id
    and impressions.user_id = users.user_id
inner join item_features as items
    on impressions.item_id = items.item_id
    and impressions.point_ts = items.point_ts
inner join user_category_features as user_categories
    on impressions.user_id = user_categories.user_id
    and impressions.item_category is not distinct from user_categories.item_category
    and impressions.point_ts = user_categories.point_ts
left join requests on impressions.request_id = requests.request_id
left join splits on impressions.impression_date = splits.impression_date
