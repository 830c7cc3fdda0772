{#- The estimators' input: one row per (target policy, logged slot of a request the policy
    is evaluated on). A logged slot the target table does not list has target probability
    0; a target row with no logged slot (an item the target would show that was not shown)
    is mass the weighting estimators see only through the slots that were logged.
    has_support: the slot's logging propensity is known (logged, or estimated for a
    deterministic logging model) and positive; slots without it are kept and counted as
    unsupported, never silently dropped.

    For the position-based estimator (PBM), on the uniform-random exploration slice only
    (is_exploration), where the logging policy puts an item at every position with the
    same probability p_log: p_log_examined = p_log * sum_k theta_k and p_target_examined =
    sum_k theta_k * pi(item at k), theta from int_cf__position_examination and pi from the
    target rows of the slot's item at any position.
    arrival_probability: the probability that the slot's purchase, if it comes, has arrived
    by the data's end (its click's, int_delayed__click_arrival; null for an unclicked slot
    and where the delay curve is not identified): the inverse weight of the delay-corrected
    rewards of fct_policy_value_estimates; arrival_probability_std_error, its standard error
    from the curve, goes into their standard errors.
    A table: the estimators and several tests read it, and its joins are the costly part. -#}
{{ config(materialized='table') }}

with targets as (
    select * from {{ ref('int_cf__target_policies') }}
),

slots as (
    select * from {{ ref('int_propensities') }}
),

arrival as (
    select event_id, arrival_probability, arrival_probability_std_error
    from {{ ref('int_delayed__click_arrival') }}
),

examination as (
    select * from {{ ref('int_cf__position_examination') }}
),

policy_requests as (
    select distinct policy_id, request_id from targets
),

target_examined as (
    select targets.policy_id, targets.request_id, targets.item_id,
           sum(targets.target_probability * examination.examination) as p_target_examined
    from targets
    inner join examination on targets.position = examination.position
    group by targets.policy_id, targets.request_id, targets.item_id
),

examination_total as (
    select sum(examination) as examination_sum from examination
),

-- without any purchase event the purchase rewards are unobserved, not zero: null, and the
-- estimators leave them out
conversions_landed as (
    select exists (select 1 from {{ ref('stg_landing__conversions') }}) as has_conversions
)

select
    policy_requests.policy_id,
    slots.event_id,
    slots.request_id,
    slots.item_id,
    slots.position,
    slots.impression_date,
    slots.model_id,
    slots.surface,
    slots.device,
    slots.propensity as p_log,
    slots.propensity_source,
    coalesce(targets.target_probability, 0.0) as p_target,
    coalesce(slots.propensity > 0, false) as has_support,
    slots.model_id = '{{ var("cf_exploration_model_id") }}' and slots.propensity_source = 'logged' as is_exploration,
    case when slots.model_id = '{{ var("cf_exploration_model_id") }}' and slots.propensity_source = 'logged'
        then slots.propensity * examination_total.examination_sum end as p_log_examined,
    coalesce(target_examined.p_target_examined, 0.0) as p_target_examined,
    cast(slots.is_clicked as double) as click,
    case when conversions_landed.has_conversions then cast(slots.is_converted as double) end as purchase,
    case when conversions_landed.has_conversions then slots.revenue end as revenue,
    slots.is_click_label_mature,
    slots.is_label_mature,
    arrival.arrival_probability,
    arrival.arrival_probability_std_error
from policy_requests
inner join slots on policy_requests.request_id = slots.request_id
cross join examination_total
cross join conversions_landed
left join targets
    on policy_requests.policy_id = targets.policy_id
    and slots.request_id = targets.request_id
    and slots.item_id = targets.item_id
    and slots.position = targets.position
left join target_examined
    on policy_requests.policy_id = target_examined.policy_id
    and slots.request_id = target_examined.request_id
    and slots.item_id = target_examined.item_id
left join arrival
    on slots.event_id = arrival.event_id
