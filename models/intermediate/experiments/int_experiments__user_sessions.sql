-- One row per request of every user, with whether it starts a session: the user's first
-- request, or one more than experiment_session_gap_minutes after the previous one.
with requests as (
    select * from {{ ref('stg_landing__requests') }}
),

ordered as (
    select
        request_id,
        user_id,
        ts,
        status,
        latency_ms,
        model_id,
        lag(ts) over (partition by user_id order by ts, request_id) as previous_ts
    from requests
)

select
    request_id,
    user_id,
    ts,
    status,
    latency_ms,
    model_id,
    case
        when previous_ts is null then 1
        when {{ dbt.datediff('previous_ts', 'ts', 'second') }} > {{ var('experiment_session_gap_minutes') }} * 60 then 1
        else 0
    end as is_session_start
from ordered
