-- One row per request of an included exposed user inside their metric window
-- [first_exposure_at, window_end_at): the serving-log side of the guardrails (latency,
-- errors, fallbacks) per experiment variant.
with users as (
    select * from {{ ref('int_experiments__user_metrics') }}
),

requests as (
    select * from {{ ref('int_experiments__user_sessions') }}
)

select
    users.experiment_id,
    users.variant,
    users.user_id,
    requests.request_id,
    requests.ts,
    requests.status,
    requests.latency_ms,
    requests.model_id
from users
inner join requests
    on requests.user_id = users.user_id
    and requests.ts >= users.first_exposure_at
    and requests.ts < users.window_end_at
