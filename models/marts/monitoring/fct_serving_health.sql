-- One row per serving model x day (grain: model_id, request_date): requests served, the
-- shares that fell back or failed, and the request latency's P50 / P99 against the SLA
-- (var monitoring_latency_p99_ms). A log without requests gives no rows.
with requests as (
    select model_id, cast(ts as date) as request_date, status, latency_ms
    from {{ ref('stg_landing__requests') }}
),

daily as (
    select
        model_id,
        request_date,
        count(*) as n_requests,
        avg(case when status = 'fallback' then 1 else 0 end) as fallback_rate,
        avg(case when status = 'error' then 1 else 0 end) as error_rate,
        percentile_cont(0.5) within group (order by latency_ms) as latency_p50_ms,
        percentile_cont(0.99) within group (order by latency_ms) as latency_p99_ms
    from requests
    group by 1, 2
)

select
    model_id,
    request_date,
    n_requests,
    fallback_rate,
    error_rate,
    latency_p50_ms,
    latency_p99_ms,
    cast({{ var('monitoring_latency_p99_ms') }} as double) as latency_p99_sla_ms,
    case
        when latency_p99_ms > {{ var('monitoring_latency_p99_ms') }} then 'alert'
        else 'ok'
    end as latency_status
from daily
