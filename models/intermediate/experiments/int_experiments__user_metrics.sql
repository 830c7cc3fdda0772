-- One row per included user x experiment: metrics over the fixed window
-- [first exposure, + experiment_metric_window_days) truncated at the data's end, and the
-- same metrics over the experiment_pre_period_days before the first exposure (CUPED
-- covariates; has_pre_period false when the user made no request then).
-- Purchases still to come: clicks_immature counts the window's clicks whose attribution
-- window is open, and purchases_corrected / revenue_corrected weight each purchase seen by
-- 1 / the probability it has arrived by now (int_delayed__click_arrival): the per-user
-- eventual figures, unbiased whenever users were exposed (null where the delay curve is
-- not identified). converted_corrected imputes the eventual conversion indicator: 1 with a
-- purchase seen, else 1 - prod over the window's clicks not converted yet of (1 - q_i), with
-- q_i = pi (1 - F_i) / (1 - pi F_i) the probability that click i still converts (F_i its
-- arrival probability, pi the arm's eventual conversion rate per click).
{{ config(materialized='table') }}
{#- column prefix -> the condition on an event's time that puts it in that period -#}
{%- set periods = {'': '>= users.first_exposure_at', 'pre_': '< users.first_exposure_at'} %}
with exposures as (
    select * from {{ ref('int_experiments__exposures') }}
    where not is_excluded
),

data_end as (
    select as_of from {{ ref('int_labels__data_end') }}
),

users as (
    select
        exposures.experiment_id,
        exposures.variant,
        exposures.user_id,
        exposures.first_exposure_at,
        exposures.first_exposure_date,
        case
            when {{ dbt.dateadd('day', var('experiment_metric_window_days'), 'exposures.first_exposure_at') }} < data_end.as_of
                then {{ dbt.dateadd('day', var('experiment_metric_window_days'), 'exposures.first_exposure_at') }}
            else data_end.as_of
        end as window_end_at,
        {{ dbt.dateadd('day', -1 * var('experiment_pre_period_days'), 'exposures.first_exposure_at') }} as pre_start_at
    from exposures
    cross join data_end
),

impressions as (
    select
        labels.user_id,
        labels.impression_ts,
        labels.is_clicked,
        labels.is_converted,
        labels.is_label_mature,
        labels.n_purchases,
        labels.revenue,
        arrival.arrival_probability
    from {{ ref('int_labels__impressions') }} as labels
    left join {{ ref('int_delayed__click_arrival') }} as arrival
        on arrival.event_id = labels.event_id
),

requests as (
    select * from {{ ref('int_experiments__user_sessions') }}
),

impression_metrics as (
    select
        users.experiment_id,
        users.user_id,
        {%- for prefix, period in periods.items() %}
        {%- set in_period = 'impressions.impression_ts ' ~ period %}
        sum(case when {{ in_period }} then 1 else 0 end) as {{ prefix }}impressions,
        sum(case when {{ in_period }} and impressions.is_clicked then 1 else 0 end) as {{ prefix }}clicks,
        sum(case when {{ in_period }} then impressions.n_purchases else 0 end) as {{ prefix }}purchases,
        max(case when {{ in_period }} and impressions.is_converted then 1 else 0 end) as {{ prefix }}converted,
        sum(case when {{ in_period }} then impressions.revenue else 0 end) as {{ prefix }}revenue,
        {%- endfor %}
        {%- set in_window = 'impressions.impression_ts ' ~ periods[''] %}
        sum(case when {{ in_window }} and impressions.is_clicked and not impressions.is_label_mature
            then 1 else 0 end) as clicks_immature,
        {#- a click without an arrival probability (curve not identified), or a purchase whose
            probability is 0 (a degenerate curve), makes the corrected sums unknown -#}
        sum(case when {{ in_window }} and impressions.is_clicked
                      and (impressions.arrival_probability is null
                           or (impressions.n_purchases > 0 and impressions.arrival_probability = 0))
            then 1 else 0 end) as clicks_without_arrival,
        sum(case when {{ in_window }} and impressions.n_purchases > 0
            then impressions.n_purchases / nullif(impressions.arrival_probability, 0) else 0 end) as purchases_corrected,
        sum(case when {{ in_window }} and impressions.n_purchases > 0
            then impressions.revenue / nullif(impressions.arrival_probability, 0) else 0 end) as revenue_corrected
    from users
    inner join impressions
        on impressions.user_id = users.user_id
        and impressions.impression_ts >= users.pre_start_at
        and impressions.impression_ts < users.window_end_at
    group by users.experiment_id, users.user_id
),

window_clicks as (
    select
        users.experiment_id,
        users.variant,
        users.user_id,
        impressions.is_converted,
        impressions.arrival_probability
    from users
    inner join impressions
        on impressions.user_id = users.user_id
        and impressions.impression_ts >= users.first_exposure_at
        and impressions.impression_ts < users.window_end_at
    where impressions.is_clicked
),

{#- pi: the arm's eventual conversion rate per click, each converted click weighted by
    1 / its arrival probability (unbiased for the rate of clicks that will convert); any click
    without an arrival probability leaves pi, and so every converted_corrected of the arm,
    unknown -#}
arm_click_conversion as (
    select
        experiment_id,
        variant,
        least(1.0, sum(case when is_converted then 1.0 / nullif(arrival_probability, 0) else 0 end)
            / count(*)) as click_conversion_rate,
        sum(case when arrival_probability is null or (is_converted and arrival_probability = 0)
            then 1 else 0 end) as clicks_without_arrival
    from window_clicks
    group by experiment_id, variant
),

{#- q: P(the click converts eventually | no purchase has arrived by now) by Bayes; 0 once the
    attribution window has closed (F = 1) -#}
pending_clicks as (
    select
        window_clicks.experiment_id,
        window_clicks.user_id,
        case when window_clicks.arrival_probability >= 1 then 0.0
             else arm.click_conversion_rate * (1 - window_clicks.arrival_probability)
                  / (1 - arm.click_conversion_rate * window_clicks.arrival_probability)
        end as still_converts_probability
    from window_clicks
    inner join arm_click_conversion as arm
        on arm.experiment_id = window_clicks.experiment_id
        and arm.variant = window_clicks.variant
    where not window_clicks.is_converted
),

pending_metrics as (
    select
        experiment_id,
        user_id,
        {#- prod (1 - q) as exp(sum(ln(1 - q))); a q of 1 (pi = 1) makes the conversion certain -#}
        sum(case when still_converts_probability < 1 then ln(1 - still_converts_probability) else 0 end)
            as log_prob_none_converts,
        max(case when still_converts_probability >= 1 then 1 else 0 end) as surely_converts
    from pending_clicks
    group by experiment_id, user_id
),

request_metrics as (
    select
        users.experiment_id,
        users.user_id,
        sum(case when requests.ts >= users.first_exposure_at and requests.status = 'error' then 1 else 0 end) as error_requests,
        sum(case when requests.ts >= users.first_exposure_at and requests.status = 'fallback' then 1 else 0 end) as fallback_requests,
        {%- for prefix, period in periods.items() %}
        sum(case when requests.ts {{ period }} then 1 else 0 end) as {{ prefix }}requests,
        sum(case when requests.ts {{ period }} then requests.is_session_start else 0 end) as {{ prefix }}sessions
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from users
    inner join requests
        on requests.user_id = users.user_id
        and requests.ts >= users.pre_start_at
        and requests.ts < users.window_end_at
    group by users.experiment_id, users.user_id
)

select
    users.experiment_id,
    users.variant,
    users.user_id,
    users.first_exposure_at,
    users.first_exposure_date,
    users.window_end_at,
    cast({{ dbt.datediff('users.first_exposure_at', 'users.window_end_at', 'second') }} as double) / 86400 as window_days_observed,
    cast(coalesce(impression_metrics.impressions, 0) as bigint) as impressions,
    cast(coalesce(impression_metrics.clicks, 0) as bigint) as clicks,
    cast(coalesce(impression_metrics.purchases, 0) as bigint) as purchases,
    cast(coalesce(impression_metrics.converted, 0) as integer) as converted,
    cast(coalesce(impression_metrics.revenue, 0) as double) as revenue,
    cast(coalesce(impression_metrics.clicks_immature, 0) as bigint) as clicks_immature,
    cast(case when impression_metrics.clicks_without_arrival > 0 then null
              else coalesce(impression_metrics.purchases_corrected, 0) end as double) as purchases_corrected,
    cast(case when impression_metrics.clicks_without_arrival > 0 then null
              else coalesce(impression_metrics.revenue_corrected, 0) end as double) as revenue_corrected,
    cast(case when coalesce(arm_click_conversion.clicks_without_arrival, 0) > 0 then null
              when coalesce(impression_metrics.converted, 0) = 1 or pending_metrics.surely_converts = 1 then 1.0
              else 1 - exp(coalesce(pending_metrics.log_prob_none_converts, 0)) end as double) as converted_corrected,
    cast(coalesce(request_metrics.sessions, 0) as bigint) as sessions,
    cast(coalesce(request_metrics.requests, 0) as bigint) as requests,
    cast(coalesce(request_metrics.error_requests, 0) as bigint) as error_requests,
    cast(coalesce(request_metrics.fallback_requests, 0) as bigint) as fallback_requests,
    cast(coalesce(request_metrics.error_requests, 0) as double)
        / nullif(coalesce(request_metrics.requests, 0), 0) as error_rate,
    cast(coalesce(request_metrics.fallback_requests, 0) as double)
        / nullif(coalesce(request_metrics.requests, 0), 0) as fallback_rate,
    cast(coalesce(impression_metrics.pre_impressions, 0) as bigint) as pre_impressions,
    cast(coalesce(impression_metrics.pre_clicks, 0) as bigint) as pre_clicks,
    cast(coalesce(impression_metrics.pre_purchases, 0) as bigint) as pre_purchases,
    cast(coalesce(impression_metrics.pre_converted, 0) as integer) as pre_converted,
    cast(coalesce(impression_metrics.pre_revenue, 0) as double) as pre_revenue,
    cast(coalesce(request_metrics.pre_sessions, 0) as bigint) as pre_sessions,
    cast(coalesce(request_metrics.pre_requests, 0) as bigint) as pre_requests,
    coalesce(request_metrics.pre_requests, 0) > 0 as has_pre_period
from users
left join impression_metrics
    on users.experiment_id = impression_metrics.experiment_id
    and users.user_id = impression_metrics.user_id
left join request_metrics
    on users.experiment_id = request_metrics.experiment_id
    and users.user_id = request_metrics.user_id
left join arm_click_conversion
    on users.experiment_id = arm_click_conversion.experiment_id
    and users.variant = arm_click_conversion.variant
left join pending_metrics
    on users.experiment_id = pending_metrics.experiment_id
    and users.user_id = pending_metrics.user_id
