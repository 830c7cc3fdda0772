-- One row per item of dim_items: the item-side features as of the data's end
-- (int_labels__data_end), what a serving key-value store loads. Same definitions as
-- int_features__impressions (macros/point_in_time_features.sql) at feature_ts = as_of.
with

{{ pit_feature_streams() }},

data_end as (
    select as_of from {{ ref('int_labels__data_end') }}
),

points as (
    select items.item_id, data_end.as_of as point_ts
    from {{ ref('dim_items') }} as items
    cross join data_end
),

{{ pit_item_features('item_features', 'points') }}

select
    item_id,
    point_ts as feature_ts,
    item_category,
    item_brand,
    item_price,
    item_age_days,
    item_impressions_1h,
    item_ctr_1h,
    item_impressions_1d,
    item_ctr_1d,
    item_id_te_ctr,
    item_id_te_cvr,
    item_brand_te_ctr
from item_features
