-- One row per user of dim_users: the user-side features as of the data's end
-- (int_labels__data_end), what a serving key-value store loads. The same definitions as
-- int_features__impressions (macros/features/) at the point feature_ts = as_of: a request
-- served at as_of sees exactly these values.
with

points as ({{ pit_snapshot_points(ref('int_core__users'), 'user_id', ref('int_labels__data_end')) }}),

{{ pit_user_features('user_features', 'points', users=ref('int_core__users')) }},

{{ pit_user_recent_items('user_recent', 'user_features') }}

select
    user_id,
    point_ts as feature_ts,
    user_country,
    user_tenure_days,
    user_impressions_7d,
    user_ctr_7d,
    user_impressions_30d,
    user_ctr_30d,
    user_id_te_ctr,
    user_recent_item_ids
from user_recent
