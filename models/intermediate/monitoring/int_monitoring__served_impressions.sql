-- One row per served impression, with what the monitoring marts read: the model that served
-- it, its score as served, the day, hour and segments (the request's device, the item's
-- category; point-in-time, from int_features__impressions) and its click and purchase labels
-- with their maturity. Materialised once for the three monitoring marts that read it.
{{ config(materialized='table') }}

select
    features.event_id,
    features.request_id,
    features.user_id,
    features.model_id,
    features.impression_ts,
    features.impression_date,
    features.position,
    features.device,
    features.item_category,
    labels.score,
    features.is_clicked,
    labels.is_click_label_mature,
    features.is_converted,
    features.is_label_mature
from {{ ref('int_features__impressions') }} as features
inner join {{ ref('int_labels__impressions') }} as labels
    on features.event_id = labels.event_id
