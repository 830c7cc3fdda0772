{#- The estimators' input: one row per (target policy, logged slot of a request the policy
    is evaluated on). A logged slot the target table does not list has target probability
    0; a target row with no logged slot (an item the target would show that was not shown)
    is mass the weighting estimators see only through the slots that were logged.
    has_support: the slot's logging propensity is known (logged, or estimated for a
    deterministic logging model) and positive; slots without it are kept and counted as
    unsupported, never silently dropped. -#}
with targets as (
    select * from {{ ref('int_cf__target_policies') }}
),

slots as (
    select * from {{ ref('int_propensities') }}
),

policy_requests as (
    select distinct policy_id, request_id from targets
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
    cast(slots.is_clicked as double) as click,
    cast(slots.is_converted as double) as purchase,
    slots.revenue,
    slots.is_click_label_mature,
    slots.is_label_mature
from policy_requests
inner join slots on policy_requests.request_id = slots.request_id
left join targets
    on policy_requests.policy_id = targets.policy_id
    and slots.request_id = targets.request_id
    and slots.item_id = targets.item_id
    and slots.position = targets.position
