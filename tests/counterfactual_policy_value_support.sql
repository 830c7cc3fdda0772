{#- Warn: an overall estimate (day 'all', segment 'all') of a weighting estimator whose
    effective sample size is below cf_min_effective_sample_size, or whose target puts more
    than cf_max_unsupported_mass of its mass outside logged support. Rows are the
    estimates not to trust. -#}
{{ config(severity='warn') }}

select policy_id, estimator, reward, effective_sample_size, unsupported_mass, n_slots
from {{ ref('fct_policy_value_estimates') }}
where day = 'all'
  and segment = 'all'
  and estimator in ('ips', 'clipped_ips', 'snips', 'dr', 'sndr', 'replay', 'pbm_ips')
  and (
    coalesce(effective_sample_size, 0) < {{ var('cf_min_effective_sample_size') }}
    or coalesce(unsupported_mass, 1) > {{ var('cf_max_unsupported_mass') }}
  )
