-- One row per impression of int_labels__impressions: its labels, its split and its
-- point-in-time features (int_features__impression_features, built a day at a time; the
-- labels change with every build as they mature, the features never do). A left join: an
-- impression the features table lacks shows as a null feature_ts, which a test rejects.
{{ config(materialized='table') }}

with

labels as (
    select
        labelled.event_id, labelled.request_id, labelled.user_id, labelled.item_id,
        labelled.impression_ts, labelled.impression_date, labelled.model_id, labelled.is_clicked,
        labelled.is_converted, labelled.is_label_mature, labelled.hours_click_to_purchase,
        cast({{ dbt.datediff('labelled.impression_ts', 'data_end.as_of', 'second') }} as double) / 3600 as label_elapsed_hours
    from {{ ref('int_labels__impressions') }} as labelled
    cross join {{ ref('int_labels__data_end') }} as data_end
),

splits as (
    select impression_date, split from {{ ref('int_labels__split_dates') }}
)

select
    labels.event_id,
    labels.request_id,
    labels.user_id,
    labels.item_id,
    labels.impression_ts,
    labels.impression_date,
    splits.split,
    labels.model_id,
    labels.is_clicked,
    labels.is_converted,
    labels.is_label_mature,
    labels.hours_click_to_purchase,
    labels.label_elapsed_hours,
    features.feature_ts
    {%- for column in pit_feature_columns() %},
    features.{{ column }}
    {%- endfor %}
from labels
left join {{ ref('int_features__impression_features') }} as features on labels.event_id = features.event_id
left join splits on labels.impression_date = splits.impression_date
