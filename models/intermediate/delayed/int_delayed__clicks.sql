{#- One row per clicked impression: the input of the delayed-feedback marts
    (fct_conversion_delay, fct_cvr_by_day; the backtest's int_delayed__clicks_at_cut). The click is the impression's first counted
    click; the segments follow int_offline__scored_impressions' rules.

    delay_hours runs from the click the impression's first attributed purchase is credited
    to, so it never exceeds the attribution window (the labels' hours_click_to_purchase runs
    from the first counted click: where a later click of the same impression gets the
    credit, it can exceed the window by up to the click window). elapsed_hours runs from the
    click to the data's end, at least delay_hours and 0: a purchase or click stamped after
    as_of (within the clock-skew tolerance) has been seen. -#}
{{ config(materialized='table') }}

with labels as (
    select event_id, request_id, user_id, item_id, impression_ts, clicked_at, is_converted, is_label_mature
    from {{ ref('int_labels__impressions') }}
    where is_clicked
),

ranked_purchases as (
    select
        impression_event_id,
        purchased_at,
        cast({{ dbt.datediff('clicked_at', 'purchased_at', 'second') }} as double) / 3600 as delay_hours,
        row_number() over (
            partition by impression_event_id order by purchased_at, conversion_event_id
        ) as purchase_rank
    from {{ ref('int_labels__attributed_purchases') }}
),

first_purchases as (
    select impression_event_id, purchased_at, delay_hours from ranked_purchases where purchase_rank = 1
),

data_end as (
    select as_of from {{ ref('int_labels__data_end') }}
),

requests as (
    select request_id, device from {{ ref('stg_landing__requests') }}
),

users as (
    select user_id, signup_at from {{ ref('int_core__users') }}
),

items as (
    select item_id, category from {{ ref('int_core__items') }}
)

select
    labels.event_id,
    labels.request_id,
    labels.user_id,
    cast(labels.clicked_at as date) as click_date,
    labels.clicked_at,
    coalesce(requests.device, 'unknown') as device,
    coalesce(items.category, 'unknown') as item_category,
    {{ age_segment('labels.impression_ts', 'users.signup_at', var('offline_new_user_days'),
                'new', 'returning') }} as user_tenure,
    labels.is_converted,
    first_purchases.purchased_at,
    first_purchases.delay_hours,
    greatest(
        cast({{ dbt.datediff('labels.clicked_at', 'data_end.as_of', 'second') }} as double) / 3600,
        coalesce(first_purchases.delay_hours, 0)
    ) as elapsed_hours,
    labels.is_label_mature
from labels
cross join data_end
left join first_purchases on first_purchases.impression_event_id = labels.event_id
left join requests on requests.request_id = labels.request_id
left join users on users.user_id = labels.user_id
left join items on items.item_id = labels.item_id
