-- One row per fired alert (grain: alert_type, source_key): what fired, on which day, subject
-- and segment, the value against its threshold, and the key of the row of the mart that
-- fired it (source_model, source_key: the row's grain as name=value pairs). Drift, online
-- AUC and calibration alert on analysis days only (int_monitoring__reference_windows);
-- skew, latency and SRM whenever they hold (skew and SRM dated on the data's last day).
-- blocks_release marks what must stop a release (skew beyond feature_skew_max_ratio): its
-- dbt test has severity monitoring_blocking_severity; every other alert warns
-- (docs/monitoring.md).
{%- set max_ratio = var('feature_skew_max_ratio') %}

with data_end as (
    select max(impression_date) as as_of_date from {{ ref('int_monitoring__reference_windows') }}
),

feature_drift as (
    select
        impression_date as alert_date,
        'feature_drift' as alert_type,
        status as level,
        cast(null as string) as model_id,
        source || ':' || feature as subject,
        segment_type,
        segment,
        'psi' as metric,
        psi as value,
        case when status = 'alert' then psi_alert else psi_warn end as threshold,
        'fct_feature_drift' as source_model,
        'impression_date=' || cast(impression_date as string) || '/source=' || source
            || '/segment_type=' || segment_type || '/segment=' || segment || '/feature=' || feature as source_key
    from {{ ref('fct_feature_drift') }}
    where period = 'analysis' and status in ('warn', 'alert')
),

prediction_drift as (
    select
        impression_date as alert_date,
        'prediction_drift' as alert_type,
        status as level,
        model_id,
        'score' as subject,
        segment_type,
        segment,
        'psi' as metric,
        psi as value,
        case when status = 'alert' then psi_alert else psi_warn end as threshold,
        'fct_prediction_drift' as source_model,
        'impression_date=' || cast(impression_date as string) || '/model_id=' || model_id
            || '/segment_type=' || segment_type || '/segment=' || segment as source_key
    from {{ ref('fct_prediction_drift') }}
    where period = 'analysis' and status in ('warn', 'alert')
),

online as (
    select
        *,
        'impression_date=' || cast(impression_date as string) || '/model_id=' || model_id || '/label=' || label
            || '/grain=day/segment_type=' || segment_type || '/segment=' || segment as source_key
    from {{ ref('fct_online_auc') }}
    where period = 'analysis' and grain = 'day'
),

online_auc as (
    select
        impression_date as alert_date,
        'online_auc' as alert_type,
        'alert' as level,
        model_id,
        label as subject,
        segment_type,
        segment,
        'auc' as metric,
        auc as value,
        auc_alert_below as threshold,
        'fct_online_auc' as source_model,
        source_key
    from online
    where auc_status = 'alert'
),

calibration as (
    select
        impression_date as alert_date,
        'calibration' as alert_type,
        'alert' as level,
        model_id,
        label as subject,
        segment_type,
        segment,
        'calibration_ratio' as metric,
        calibration_ratio as value,
        case when calibration_ratio < reference_calibration_ratio then calibration_lower_limit
            else calibration_upper_limit end as threshold,
        'fct_online_auc' as source_model,
        source_key
    from online
    where calibration_status = 'alert'
),

skew as (
    select
        data_end.as_of_date as alert_date,
        'feature_skew' as alert_type,
        'alert' as level,
        cast(null as string) as model_id,
        'served:' || skew.feature_name as subject,
        'device' as segment_type,
        skew.device as segment,
        'geometric_mean_ratio' as metric,
        skew.geometric_mean_ratio as value,
        cast(case when skew.geometric_mean_ratio > 1 then {{ max_ratio }} else 1 / {{ max_ratio }} end as double) as threshold,
        'fct_feature_skew' as source_model,
        'feature_name=' || skew.feature_name || '/device=' || skew.device as source_key
    from {{ ref('fct_feature_skew') }} as skew
    cross join data_end
    -- device unknown / unmatched: served rows whose request's device is not known mix the
    -- devices; the devices' own rows say which one is skewed
    where skew.device not in ('unknown', 'unmatched')
        and (skew.geometric_mean_ratio > {{ max_ratio }} or skew.geometric_mean_ratio < 1 / {{ max_ratio }})
),

latency as (
    select
        request_date as alert_date,
        'latency_sla' as alert_type,
        'alert' as level,
        model_id,
        'latency' as subject,
        'all' as segment_type,
        'all' as segment,
        'latency_p99_ms' as metric,
        latency_p99_ms as value,
        latency_p99_sla_ms as threshold,
        'fct_serving_health' as source_model,
        'model_id=' || model_id || '/request_date=' || cast(request_date as string) as source_key
    from {{ ref('fct_serving_health') }}
    where latency_status = 'alert'
),

srm as (
    select
        data_end.as_of_date as alert_date,
        'srm' as alert_type,
        'alert' as level,
        cast(null as string) as model_id,
        srm.experiment_id || ':' || srm.variant as subject,
        'all' as segment_type,
        'all' as segment,
        'srm_p_value' as metric,
        srm.p_value as value,
        srm.threshold,
        'fct_srm_checks' as source_model,
        'experiment_id=' || srm.experiment_id || '/variant=' || srm.variant as source_key
    from {{ ref('fct_srm_checks') }} as srm
    cross join data_end
    where srm.srm_detected
),

alerts as (
    select * from feature_drift
    union all select * from prediction_drift
    union all select * from online_auc
    union all select * from calibration
    union all select * from skew
    union all select * from latency
    union all select * from srm
)

select
    alert_date,
    alert_type,
    level,
    alert_type = 'feature_skew' as blocks_release,
    model_id,
    subject,
    segment_type,
    segment,
    metric,
    value,
    threshold,
    source_model,
    source_key
from alerts
