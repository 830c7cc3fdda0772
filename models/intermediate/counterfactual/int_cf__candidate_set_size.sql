{#- The size C of the eligible (candidate) set of a request. The warehouse never sees the
    candidates themselves, only the items shown; but the uniform-random exploration slice
    logs propensity 1/C (a uniformly random ordered K-subset of C candidates), so C is
    known: the var cf_candidate_set_size, or 1 / the slice's median logged propensity.
    One row. -#}
with exploration as (
    select propensity
    from {{ ref('int_propensities') }}
    where model_id = '{{ var("cf_exploration_model_id") }}'
      and propensity_source = 'logged'
)

select
    {% if var('cf_candidate_set_size') is not none -%}
    cast({{ var('cf_candidate_set_size') }} as integer) as candidate_set_size,
    'var' as source,
    {%- else -%}
    cast(round(1.0 / median(propensity)) as integer) as candidate_set_size,
    'exploration_propensity' as source,
    {%- endif %}
    count(*) as n_exploration_impressions
from exploration
