-- One row per item of dim_items: the item-side features as of the data's end
-- (int_labels__data_end), what a serving key-value store loads. Same definitions as
-- int_features__impressions (macros/features/) at feature_ts = as_of.
with

points as ({{ pit_snapshot_points(ref('int_core__items'), 'item_id', ref('int_labels__data_end')) }}),

{{ pit_item_features('item_features', 'points', items=ref('int_core__items')) }}

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
