{#- The built-in target policies in the target-policy contract: one row per (policy_id,
    request_id, item_id, position) with target_probability = pi(item at position | request).
    Only the logged slots are listed (all an importance-weighting estimator needs); a
    request's rows define where the policy is evaluated.

    - uniform_random: a uniformly random ordered K-subset of the request's candidate set,
      pi = 1 / C at every (candidate, position). Evaluated on the lists whose logging
      policy explores every candidate at every position with a known propensity (the
      logged ones: prod_v1's epsilon-greedy and the exploration slice). On the exploration
      slice its shown items are listed at every position (the position-based estimator
      reads them).
    - <cf_logging_model_id> (null: the most-served model): the logging policy itself, pi = mu on its own lists:
      every weight is 1 and every estimate is its observed rate (the sanity row).
    - popularity: top-K of the candidates by previous-day popularity, deterministic. The
      warehouse cannot rank candidates it never sees, so it is evaluated on the lists that
      policy served (cf_popularity_model_id, a random slice of traffic), with pi = 1 where
      the logged position is the item's popularity rank (its served score), else 0. -#}
with slots as (
    select * from {{ ref('int_propensities') }}
),

c as (
    select candidate_set_size from {{ ref('int_cf__candidate_set_size') }}
),

explored_requests as (
    select request_id from {{ ref('int_cf__logged_requests') }}
),

exploration_slots as (
    select request_id, item_id
    from slots
    where model_id = '{{ var("cf_exploration_model_id") }}' and propensity_source = 'logged'
),

uniform_slots as (
    select slots.request_id, slots.item_id, slots.position
    from slots
    inner join explored_requests on slots.request_id = explored_requests.request_id
    union
    select exploration_slots.request_id, exploration_slots.item_id, positions.position
    from exploration_slots
    cross join (select distinct position from slots) as positions
)

select
    'uniform_random' as policy_id,
    uniform_slots.request_id,
    uniform_slots.item_id,
    uniform_slots.position,
    1 / c.candidate_set_size as target_probability
from uniform_slots
cross join c

union all

select
    {{ production_model_id('cf_logging_model_id') }} as policy_id,
    request_id,
    item_id,
    position,
    propensity as target_probability
from slots
where model_id = {{ production_model_id('cf_logging_model_id') }} and propensity_source = 'logged'

union all

select
    'popularity' as policy_id,
    request_id,
    item_id,
    position,
    cast(position = score_rank as double) as target_probability
from slots
where model_id = '{{ var("cf_popularity_model_id") }}'
