-- Guardrail (design convention 9): every defined value estimated from at least two
-- resampling units carries a standard error or an interval, and its n; an analytic
-- interval contains its point estimate. Rows are violations.
select model_id, task, split, segment_type, segment_value, period, impression_date, metric,
       value, std_error, ci_low, ci_high, n, n_groups, method
from {{ ref('fct_offline_metrics') }}
where value is not null
  and (
      n is null or n < 1
      or (coalesce(n_groups, n) >= 2 and std_error is null and (ci_low is null or ci_high is null)
          and coalesce(n_groups, n) > coalesce(n_excluded, 0) + 1)
      or (method in ('clt', 'clt_cluster', 'delong', 'paired_delong')
          and ci_low is not null and (value < ci_low - 1e-12 or value > ci_high + 1e-12))
  )
