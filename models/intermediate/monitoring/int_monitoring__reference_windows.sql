-- One row per impression date: the reference window its monitoring rows are compared with,
-- and whether the day is monitored (docs/monitoring.md, "Reference window").
-- Default: the monitoring_reference_days days ending monitoring_reference_lag_days before
-- the day - the training window of a model retrained daily - so each day's rows are the
-- same in a full refresh as in the daily build that first saw it. With
-- monitoring_reference_start_date / _end_date set: one fixed window for every day.
{{ config(materialized='table') }}
{%- set fixed_start = var('monitoring_reference_start_date') %}
{%- set fixed_end = var('monitoring_reference_end_date') %}
{%- if (fixed_start is none) != (fixed_end is none) %}
    {{ exceptions.raise_compiler_error("monitoring_reference_start_date and monitoring_reference_end_date are set together (a fixed reference window) or both left null (the trailing training window); got start=" ~ fixed_start ~ ", end=" ~ fixed_end) }}
{%- endif %}
{%- set days = var('monitoring_reference_days') if var('monitoring_reference_days') is not none else var('split_train_days') %}
{%- set lag = var('monitoring_reference_lag_days') if var('monitoring_reference_lag_days') is not none
    else var('split_validation_days') + var('split_test_days') %}
{%- if days | int < 1 or lag | int < 1 %}
    {{ exceptions.raise_compiler_error("monitoring_reference_days must be >= 1 and monitoring_reference_lag_days >= 1 (a day is never its own reference); got " ~ days ~ " and " ~ lag) }}
{%- endif %}

with dates as (
    select impression_date from {{ ref('int_labels__split_dates') }}
),

windows as (
    select
        impression_date,
        {%- if fixed_start is not none %}
        cast('{{ fixed_start }}' as date) as reference_start_date,
        cast('{{ fixed_end }}' as date) as reference_end_date
        {%- else %}
        cast({{ dbt.dateadd('day', -(days | int + lag | int - 1), 'impression_date') }} as date) as reference_start_date,
        cast({{ dbt.dateadd('day', -(lag | int), 'impression_date') }} as date) as reference_end_date
        {%- endif %}
    from dates
),

counted as (
    select
        windows.impression_date,
        windows.reference_start_date,
        windows.reference_end_date,
        count(dates.impression_date) as n_reference_days
    from windows
    left join dates
        on dates.impression_date between windows.reference_start_date and windows.reference_end_date
    group by 1, 2, 3
)

select
    impression_date,
    reference_start_date,
    reference_end_date,
    n_reference_days,
    case
        when impression_date < reference_start_date then 'before_reference'
        when impression_date <= reference_end_date then 'reference'
        when n_reference_days < {{ var('monitoring_min_reference_days') }} then 'warm_up'
        else 'analysis'
    end as period
from counted
