{#- Every target policy to evaluate, in the target-policy contract (policy_id, request_id,
    item_id, position, target_probability): the built-ins, the candidate models' top-K and
    Plackett-Luce policies, and each model named in the var cf_target_policy_models (a
    user's own table). -#}
{#- A table: the policy slots and seven tests read it; as a view each would rebuild the
    built-in policies. -#}
{{ config(materialized='table') }}
select policy_id, request_id, item_id, position, target_probability
from {{ ref('int_cf__builtin_target_policies') }}
union all
select policy_id, request_id, item_id, position, target_probability
from {{ ref('int_cf__candidate_target_policies') }}
{% for model_name in var('cf_target_policy_models') %}
union all
select
    cast(policy_id as string) as policy_id,
    cast(request_id as bigint) as request_id,
    cast(item_id as bigint) as item_id,
    cast(position as integer) as position,
    cast(target_probability as double) as target_probability
from {{ ref(model_name) }}
{% endfor %}
