-- One row per impression of int_labels__impressions: its labels, split and the point-in-time
-- features the candidate models train on (receval.models.features: CATEGORICAL + DENSE).
-- Every feature is computed as of feature_ts, the moment the impression's list was served
-- (the request's first impression; all of a request's impressions share it), from events
-- strictly before it, each at its own event time: nothing of the same request, no click or
-- purchase that happened at or after feature_ts, counts. The definitions live in
-- macros/features/ and are shared with the online snapshot marts and the candidate-set
-- features (int_cf__candidate_features).
{{ config(materialized='table') }}

with

labels as (
    select
        labelled.event_id, labelled.request_id, labelled.user_id, labelled.item_id, labelled.position,
        labelled.model_id, labelled.impression_ts, labelled.impression_date, labelled.is_clicked,
        labelled.is_converted, labelled.is_label_mature, labelled.hours_click_to_purchase,
        {{ dbt.datediff('labelled.impression_ts', 'data_end.as_of', 'second') }} / 3600.0 as label_elapsed_hours
    from {{ ref('int_labels__impressions') }} as labelled
    cross join {{ ref('int_labels__data_end') }} as data_end
),

slots as (
    select
        labels.*,
        min(labels.impression_ts) over (partition by labels.request_id) as point_ts,
        labels.impression_ts as context_ts
    from labels
),

{{ pit_slot_features('features', 'slots', users=ref('int_core__users'), items=ref('int_core__items'),
                     requests=ref('stg_landing__requests')) }},

splits as (
    select impression_date, split from {{ ref('int_labels__split_dates') }}
)

select
    features.event_id,
    features.request_id,
    features.user_id,
    features.item_id,
    features.impression_ts,
    features.impression_date,
    splits.split,
    features.model_id,
    features.is_clicked,
    features.is_converted,
    features.is_label_mature,
    features.hours_click_to_purchase,
    features.label_elapsed_hours,
    features.point_ts as feature_ts,
    -- context
    features.position,
    features.device,
    features.hour_of_day,
    -- item
    features.item_category,
    features.item_brand,
    features.item_price,
    features.item_age_days,
    features.item_impressions_1h,
    features.item_ctr_1h,
    features.item_impressions_1d,
    features.item_ctr_1d,
    features.item_id_te_ctr,
    features.item_id_te_cvr,
    features.item_brand_te_ctr,
    -- user
    features.user_country,
    features.user_tenure_days,
    features.user_impressions_7d,
    features.user_ctr_7d,
    features.user_impressions_30d,
    features.user_ctr_30d,
    features.user_id_te_ctr,
    features.user_recent_item_ids,
    features.item_in_user_recent,
    -- user x item category
    features.user_category_impressions_30d,
    features.user_category_click_share_30d
from features
left join splits on features.impression_date = splits.impression_date
