{#- The logging policy evaluated on its own lists has every weight 1, so IPS, SNIPS and DR
    equal its observed rate: rows are overall estimates that differ from it. -#}
with observed as (
    select
        'click' as reward, avg(click) as rate
    from {{ ref('int_cf__policy_slots') }}
    where policy_id = {{ production_model_id('cf_logging_model_id') }} and has_support and is_click_label_mature
    union all
    select 'purchase', avg(purchase)
    from {{ ref('int_cf__policy_slots') }}
    where policy_id = {{ production_model_id('cf_logging_model_id') }} and has_support and is_label_mature
    union all
    select 'revenue', avg(revenue)
    from {{ ref('int_cf__policy_slots') }}
    where policy_id = {{ production_model_id('cf_logging_model_id') }} and has_support and is_label_mature
)

select e.estimator, e.reward, e.estimate, o.rate
from {{ ref('fct_policy_value_estimates') }} as e
inner join observed as o on e.reward = o.reward
where e.policy_id = {{ production_model_id('cf_logging_model_id') }}
  and e.day = 'all' and e.segment = 'all'
  and e.estimator in ('ips', 'snips', 'dr', 'sndr')
  and abs(e.estimate - o.rate) > 1e-9 * greatest(1, abs(o.rate))
