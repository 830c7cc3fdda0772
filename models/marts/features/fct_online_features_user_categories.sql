-- One row per user of dim_users x item category of dim_items: the user x category features
-- as of the data's end (int_labels__data_end). Every pair is present (zeros where the user
-- never saw the category), so a server looks up (user, candidate item's category) without
-- a default. Same definitions as int_features__impressions.
with

categories as (
    select distinct category as item_category
    from {{ ref('int_core__items') }}
    where category is not null
),

user_points as ({{ pit_snapshot_points(ref('int_core__users'), 'user_id', ref('int_labels__data_end')) }}),

-- the share's denominator: the user's 30-day clicks, from the user features
{{ pit_user_features('user_features', 'user_points', users=ref('int_core__users')) }},

points as (
    select user_features.user_id, categories.item_category, user_features.point_ts, user_features.user_clicks_30d
    from user_features
    cross join categories
),

{{ pit_user_category_features('user_category_features', 'points') }}

select
    user_id,
    item_category,
    point_ts as feature_ts,
    user_category_impressions_30d,
    user_category_click_share_30d
from user_category_features
