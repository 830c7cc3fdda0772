{#- The lists logged with a known propensity at every slot (prod_v1's epsilon-greedy and
    the exploration slice): where a policy that reorders the candidates has support. One
    row per request, with the instant its list was served (its first impression) and that
    impression's date. -#}
select
    request_id,
    min(impression_ts) as point_ts,
    min(impression_date) as impression_date
from {{ ref('int_propensities') }}
group by request_id
having bool_and(propensity_source = 'logged')
