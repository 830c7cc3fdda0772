{#- The size C of the eligible (candidate) set of a request. The warehouse never sees the
    candidates themselves, only the items shown; but the uniform-random exploration slice
    logs propensity 1/C (a uniformly random ordered K-subset of C candidates), so C is
    known: the var cf_candidate_set_size, else 1 / the slice's median logged propensity,
    else (a log without that slice) the number of distinct items the impressions show: the
    eligible set when any item may be served to any request. One row. -#}
{{ config(materialized='table') }}  {#- one row; as a view each reader would rescan the impressions -#}
with exploration as (
    select propensity
    from {{ ref('int_propensities') }}
    where model_id = '{{ var("cf_exploration_model_id") }}'
      and propensity_source = 'logged'
),

estimates as (
    select
        cast(round(1.0 / median(propensity)) as integer) as from_exploration,
        count(*) as n_exploration_impressions
    from exploration
),

catalog as (
    select cast(count(distinct item_id) as integer) as distinct_items
    from {{ ref('int_propensities') }}
)

select
    {% if var('cf_candidate_set_size') is not none -%}
    cast({{ var('cf_candidate_set_size') }} as integer) as candidate_set_size,
    'var' as source,
    {%- else -%}
    coalesce(estimates.from_exploration, catalog.distinct_items) as candidate_set_size,
    case when estimates.from_exploration is not null then 'exploration_propensity' else 'distinct_items' end as source,
    {%- endif %}
    estimates.n_exploration_impressions
from estimates
cross join catalog
