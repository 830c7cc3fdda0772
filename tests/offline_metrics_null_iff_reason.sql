-- Guardrail: in fct_offline_metrics a value is null exactly when a reason says why
-- (never a silent default, never a stale reason next to a number). Rows are violations.
select model_id, task, split, segment_type, segment_value, period, impression_date, metric, value, reason
from {{ ref('fct_offline_metrics') }}
where (value is null and reason is null)
   or (value is not null and reason is not null)
