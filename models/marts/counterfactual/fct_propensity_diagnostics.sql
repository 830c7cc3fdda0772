{#- One row per (logging model_id, propensity_source): how the propensities the estimators
    use are distributed, how much of each logging model's traffic relies on estimated
    propensities, and the support gaps (impressions with no usable propensity). -#}
with slots as (
    select * from {{ ref('int_propensities') }}
),

per_model as (
    select model_id, count(*) as n_model_impressions
    from slots
    group by model_id
)

select
    coalesce(slots.model_id, 'unknown') as model_id,
    slots.propensity_source,
    count(*) as n_impressions,
    count(distinct slots.request_id) as n_requests,
    cast(count(*) as double) / max(per_model.n_model_impressions) as share_of_model_impressions,
    sqrt(
        (cast(count(*) as double) / max(per_model.n_model_impressions))
        * (1 - cast(count(*) as double) / max(per_model.n_model_impressions))
        / max(per_model.n_model_impressions)
    ) as share_of_model_impressions_se,
    count(slots.propensity) as n_with_propensity,
    min(slots.propensity) as min_propensity,
    percentile_cont(0.01) within group (order by slots.propensity) as p01_propensity,
    percentile_cont(0.5) within group (order by slots.propensity) as median_propensity,
    percentile_cont(0.99) within group (order by slots.propensity) as p99_propensity,
    max(slots.propensity) as max_propensity,
    avg(1.0 / slots.propensity) as mean_inverse_propensity,
    stddev_samp(1.0 / slots.propensity) / sqrt(count(slots.propensity)) as mean_inverse_propensity_se,
    count(distinct case when slots.propensity is not null then slots.position end) as n_positions_with_support,
    count(distinct slots.position) as n_positions,
    count(*) - count(slots.propensity) as n_without_support,
    avg(slots.propensity_model_n) as mean_propensity_model_n
from slots
left join per_model on slots.model_id is not distinct from per_model.model_id
group by coalesce(slots.model_id, 'unknown'), slots.propensity_source
