{#- The examination probability of each position, up to a constant factor, as the
    position-based click model (PBM) defines it: click = examined (theta_k, the position
    only) x attracted (the item and context only). On the uniform-random exploration slice
    (var cf_exploration_model_id) every candidate is equally likely at every position, so
    the attraction is the same in expectation at each position and the click rate of
    position k is proportional to theta_k: theta_k = CTR_k / CTR_1 (mature click labels).
    Only the ratios matter to the position-based estimator. One row per position. -#}
with exploration as (
    select position, cast(is_clicked as double) as click
    from {{ ref('int_propensities') }}
    where model_id = '{{ var("cf_exploration_model_id") }}'
      and propensity_source = 'logged'
      and is_click_label_mature
),

per_position as (
    select position, count(*) as n_impressions, avg(click) as click_rate
    from exploration
    group by position
)

select
    per_position.position,
    per_position.n_impressions,
    per_position.click_rate,
    -- clipped into (0, 1]: a position clicked more often than the first by chance counts as 1
    least(per_position.click_rate / first_position.click_rate, 1.0) as examination
from per_position
cross join (select click_rate from per_position where position = 1) as first_position
where per_position.click_rate > 0
