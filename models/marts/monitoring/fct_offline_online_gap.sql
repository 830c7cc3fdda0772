-- One row per candidate x baseline model x gap metric x online source: what the offline
-- backtest, the off-policy estimate and each online test said about the candidate against
-- the baseline, side by side (_fct_offline_online_gap.yml, macros/monitoring/offline_online_gap.sql).

with metrics as (
    {{ offline_online_gap_metric_rows() }}
),

production as (
    select {{ production_model_id('offline_production_model') }} as model_id
),

offline as (
    select
        m.metric,
        o.model_id as candidate_model_id,
        o.baseline_model_id,
        o.value as offline_delta,
        o.std_error as offline_std_error,
        o.ci_low as offline_ci_low,
        o.ci_high as offline_ci_high,
        1 - o.confidence as offline_alpha,
        o.n as offline_n,
        o.reason as offline_reason
    from {{ ref('fct_offline_metrics') }} as o
    inner join metrics as m
        on o.task = m.offline_task
        and o.split = m.offline_split
        and o.metric = 'delta_' || m.offline_metric
    where o.segment_type = 'all' and o.period = 'overall' and o.baseline_model_id is not null
),

-- The model an experiment arm serves: the model_id of most of its requests (exploration,
-- interleaved and fallback requests are a minority of every arm).
arm_request_counts as (
    select experiment_id, variant, model_id, count(*) as n_requests
    from {{ ref('int_experiments__exposed_requests') }}
    group by experiment_id, variant, model_id
),

arm_models as (
    select experiment_id, variant, model_id
    from (
        select
            experiment_id, variant, model_id,
            row_number() over (partition by experiment_id, variant order by n_requests desc, model_id) as rank_in_arm
        from arm_request_counts
    ) as ranked
    where rank_in_arm = 1
),

-- Arms that serve another model than their control (an arm that changes the ranking
-- without a new model_id compares no model pair).
experiment_arms as (
    select distinct
        r.experiment_id,
        r.variant,
        treated.model_id as candidate_model_id,
        control.model_id as baseline_model_id
    from {{ ref('fct_experiment_results') }} as r
    inner join arm_models as treated
        on r.experiment_id = treated.experiment_id and r.variant = treated.variant
    inner join arm_models as control
        on r.experiment_id = control.experiment_id and r.control_variant = control.variant
    where treated.model_id <> control.model_id
),

-- Fixed-horizon CUPED effect, delay-corrected where purchases are still to come (the
-- estimate rpt_experiment_scorecard decides on at the planned end).
experiment_estimates as (
    select
        experiment_id, variant, metric, higher_is_better, alpha, label_maturity,
        n_control + n_treatment as n_users,
        label_maturity in ('partial', 'immature') and corrected_effect is not null as is_corrected,
        cuped_effect, cuped_std_error, cuped_ci_low, cuped_ci_high, cuped_p_value,
        corrected_effect, corrected_std_error, corrected_ci_low, corrected_ci_high, corrected_p_value
    from {{ ref('fct_experiment_results') }}
),

experiment_online as (
    select
        a.candidate_model_id,
        a.baseline_model_id,
        'experiment:' || a.experiment_id || '/' || a.variant as online_source,
        m.metric,
        m.experiment_metric as online_metric,
        case when r.higher_is_better = false then -1 else 1 end as online_direction,
        case when r.is_corrected then 'cuped_delay_corrected' when r.metric is not null then 'cuped' end as online_estimator,
        case when r.is_corrected then r.corrected_effect else r.cuped_effect end as online_delta,
        case when r.is_corrected then r.corrected_std_error else r.cuped_std_error end as online_std_error,
        case when r.is_corrected then r.corrected_ci_low else r.cuped_ci_low end as online_ci_low,
        case when r.is_corrected then r.corrected_ci_high else r.cuped_ci_high end as online_ci_high,
        case when r.is_corrected then r.corrected_p_value else r.cuped_p_value end as online_p_value,
        r.alpha as online_alpha,
        r.n_users as online_n,
        r.label_maturity as online_label_maturity
    from experiment_arms as a
    cross join metrics as m
    left join experiment_estimates as r
        on a.experiment_id = r.experiment_id and a.variant = r.variant and r.metric = m.experiment_metric
),

-- Interleaving's preference favours team A: the candidate is the team that is not the
-- production model (team B when neither is), its delta the preference for it.
interleaving_pair as (
    select
        candidate_model_id,
        baseline_model_id,
        case when candidate_model_id = team_a_model then 1 else -1 end as candidate_sign
    from (
        select distinct
            i.team_a_model,
            case when i.team_b_model = p.model_id then i.team_a_model else i.team_b_model end as candidate_model_id,
            case when i.team_b_model = p.model_id then i.team_b_model else i.team_a_model end as baseline_model_id
        from {{ ref('fct_interleaving_results') }} as i
        cross join production as p
    ) as teams
),

interleaving_online as (
    select
        p.candidate_model_id,
        p.baseline_model_id,
        'interleaving' as online_source,
        m.metric,
        m.interleaving_outcome as online_metric,
        1 as online_direction,
        case when i.outcome is not null then 'preference' end as online_estimator,
        p.candidate_sign * i.preference as online_delta,
        i.std_error as online_std_error,
        case when p.candidate_sign = 1 then i.ci_low else -i.ci_high end as online_ci_low,
        case when p.candidate_sign = 1 then i.ci_high else -i.ci_low end as online_ci_high,
        i.p_value as online_p_value,
        i.alpha as online_alpha,
        i.n_requests as online_n,
        i.label_maturity as online_label_maturity
    from interleaving_pair as p
    cross join metrics as m
    left join {{ ref('fct_interleaving_results') }} as i
        on i.outcome = m.interleaving_outcome
),

online as (
    select * from experiment_online
    union all
    select * from interleaving_online
),

pairs as (
    select candidate_model_id, baseline_model_id from offline
    union
    select candidate_model_id, baseline_model_id from online
),

-- Every pair has a row per online source, or one with online_source 'none'.
pair_sources as (
    select p.candidate_model_id, p.baseline_model_id, coalesce(s.online_source, 'none') as online_source
    from pairs as p
    left join (select distinct candidate_model_id, baseline_model_id, online_source from online) as s
        on p.candidate_model_id = s.candidate_model_id and p.baseline_model_id = s.baseline_model_id
),

-- OPE: the metric's cells on segment all, the corrected reward's cell where it exists.
ope_cells as (
    select metric, policy_id, day, reward, estimate, std_error, ci_low, ci_high, alpha, n_slots
    from (
        select
            m.metric, v.*,
            row_number() over (
                partition by m.metric, v.policy_id, v.day
                order by case when v.reward = m.ope_corrected_reward then 0 else 1 end
            ) as preference_rank
        from {{ ref('fct_policy_value_estimates') }} as v
        inner join metrics as m
            on v.estimator = m.ope_estimator
            and (v.reward = m.ope_reward or v.reward = m.ope_corrected_reward)
        where v.segment = 'all'
    ) as ranked
    where preference_rank = 1
),

-- A model's OPE policy: <model>_top_k (its deterministic top-K ranking), else the policy
-- named as the model (the logging model's on-policy row).
model_policies as (
    select model_id, policy_id
    from (
        select
            models.model_id, policies.policy_id,
            row_number() over (
                partition by models.model_id
                order by case when policies.policy_id = models.model_id then 1 else 0 end
            ) as policy_rank
        from (
            select candidate_model_id as model_id from pairs
            union
            select baseline_model_id from pairs
        ) as models
        inner join (select distinct policy_id from {{ ref('fct_policy_value_estimates') }}) as policies
            on policies.policy_id in (models.model_id || '{{ var('monitoring_gap_ope_policy_suffix') }}', models.model_id)
    ) as ranked
    where policy_rank = 1
),

ope_pairs as (
    select
        p.candidate_model_id, p.baseline_model_id, m.metric, m.ope_estimator,
        tp.policy_id as target_policy, bp.policy_id as baseline_policy
    from pairs as p
    cross join metrics as m
    left join model_policies as tp on p.candidate_model_id = tp.model_id
    left join model_policies as bp on p.baseline_model_id = bp.model_id
),

-- The baseline policy on the target's days, weighted as the target's slots: its value on
-- the same traffic mix. Standard errors and interval ends are pooled linearly (never in
-- quadrature): a weighted sum of standard errors bounds the pooled one whatever the days'
-- correlation (the delay curve's error, shared by every day of a corrected reward).
baseline_on_target_days as (
    select
        o.candidate_model_id, o.baseline_model_id, o.metric,
        count(*) as n_target_days,
        count(b.estimate) as n_baseline_days,
        sum(t.n_slots * b.estimate) / sum(t.n_slots) as baseline_value,
        sum(t.n_slots * b.std_error) / sum(t.n_slots) as baseline_std_error,
        sum(t.n_slots * b.ci_low) / sum(t.n_slots) as baseline_ci_low,
        sum(t.n_slots * b.ci_high) / sum(t.n_slots) as baseline_ci_high
    from ope_pairs as o
    inner join ope_cells as t
        on o.metric = t.metric and o.target_policy = t.policy_id
    left join ope_cells as b
        on o.metric = b.metric and o.baseline_policy = b.policy_id and t.day = b.day
    where t.day <> 'all' and t.n_slots > 0
    group by o.candidate_model_id, o.baseline_model_id, o.metric
),

ope_sides as (
    select
        o.candidate_model_id, o.baseline_model_id, o.metric, o.ope_estimator,
        o.target_policy, o.baseline_policy,
        t.reward as ope_reward,
        t.estimate as target_value,
        t.std_error as target_std_error,
        t.ci_low as target_ci_low,
        t.ci_high as target_ci_high,
        t.alpha as ope_alpha,
        t.n_slots as ope_n_slots,
        d.n_target_days,
        case when d.n_baseline_days = d.n_target_days then d.baseline_value end as baseline_value,
        case when d.n_baseline_days = d.n_target_days then d.baseline_std_error end as baseline_std_error,
        case when d.n_baseline_days = d.n_target_days then d.baseline_ci_low end as baseline_ci_low,
        case when d.n_baseline_days = d.n_target_days then d.baseline_ci_high end as baseline_ci_high,
        case
            when o.target_policy is null
                then 'no OPE target policy ' || o.candidate_model_id || '{{ var('monitoring_gap_ope_policy_suffix') }} or ' || o.candidate_model_id
            when o.baseline_policy is null then 'no OPE policy for the baseline ' || o.baseline_model_id
            when o.target_policy = o.baseline_policy then 'candidate and baseline share the OPE policy ' || o.target_policy
            when t.estimate is null then 'no ' || o.ope_estimator || ' estimate of ' || o.target_policy || ' for the reward'
            when d.n_target_days is null then 'no day cells of ' || o.target_policy || ' to match the baseline on'
            when d.n_baseline_days < d.n_target_days
                then o.baseline_policy || ' has no estimate on ' || cast(d.n_target_days - d.n_baseline_days as {{ dbt.type_string() }})
                    || ' of the ' || cast(d.n_target_days as {{ dbt.type_string() }}) || ' days of ' || o.target_policy
        end as ope_reason
    from ope_pairs as o
    left join ope_cells as t
        on o.metric = t.metric and o.target_policy = t.policy_id and t.day = 'all'
    left join baseline_on_target_days as d
        on o.candidate_model_id = d.candidate_model_id and o.baseline_model_id = d.baseline_model_id and o.metric = d.metric
),

-- The OPE delta's interval: each end is the difference of the opposite ends, i.e. for the
-- mart's Wald intervals delta +- z (se_target + se_baseline). Both are estimated on the
-- same logs and the mart has no paired difference: the sum of the standard errors bounds
-- the difference's whatever their correlation, where the quadrature sum assumes none.
ope as (
    select
        candidate_model_id, baseline_model_id, metric, ope_estimator, ope_reward,
        target_policy as ope_target_policy,
        baseline_policy as ope_baseline_policy,
        n_target_days as ope_n_days,
        ope_n_slots,
        ope_alpha,
        target_value as ope_target_value,
        target_ci_low as ope_target_ci_low,
        target_ci_high as ope_target_ci_high,
        baseline_value as ope_baseline_value,
        baseline_ci_low as ope_baseline_ci_low,
        baseline_ci_high as ope_baseline_ci_high,
        target_value - baseline_value as ope_delta,
        target_std_error + baseline_std_error as ope_std_error,
        target_ci_low - baseline_ci_high as ope_ci_low,
        target_ci_high - baseline_ci_low as ope_ci_high,
        ope_reason
    from ope_sides
),

joined as (
    select
        ps.candidate_model_id,
        ps.baseline_model_id,
        m.metric,
        ps.online_source,
        m.offline_task,
        m.offline_split,
        m.offline_metric,
        m.offline_direction,
        off.offline_delta,
        off.offline_std_error,
        off.offline_ci_low,
        off.offline_ci_high,
        off.offline_alpha,
        off.offline_n,
        case when off.candidate_model_id is null then 'no delta_' || m.offline_metric || ' row in fct_offline_metrics' else off.offline_reason end as offline_reason,
        ope.ope_estimator,
        ope.ope_reward,
        ope.ope_target_policy,
        ope.ope_baseline_policy,
        ope.ope_n_days,
        ope.ope_n_slots,
        ope.ope_alpha,
        ope.ope_target_value,
        ope.ope_target_ci_low,
        ope.ope_target_ci_high,
        ope.ope_baseline_value,
        ope.ope_baseline_ci_low,
        ope.ope_baseline_ci_high,
        ope.ope_delta,
        ope.ope_std_error,
        ope.ope_ci_low,
        ope.ope_ci_high,
        ope.ope_reason,
        onl.online_metric,
        onl.online_direction,
        onl.online_estimator,
        onl.online_delta,
        onl.online_std_error,
        onl.online_ci_low,
        onl.online_ci_high,
        onl.online_p_value,
        onl.online_alpha,
        onl.online_n,
        onl.online_label_maturity
    from pair_sources as ps
    cross join metrics as m
    left join offline as off
        on ps.candidate_model_id = off.candidate_model_id and ps.baseline_model_id = off.baseline_model_id and m.metric = off.metric
    left join ope
        on ps.candidate_model_id = ope.candidate_model_id and ps.baseline_model_id = ope.baseline_model_id and m.metric = ope.metric
    left join online as onl
        on ps.candidate_model_id = onl.candidate_model_id and ps.baseline_model_id = onl.baseline_model_id
        and ps.online_source = onl.online_source and m.metric = onl.metric
)

select
    cast(candidate_model_id as {{ dbt.type_string() }}) as candidate_model_id,
    cast(baseline_model_id as {{ dbt.type_string() }}) as baseline_model_id,
    cast(metric as {{ dbt.type_string() }}) as metric,
    cast(online_source as {{ dbt.type_string() }}) as online_source,
    d.as_of,
    cast(offline_task as {{ dbt.type_string() }}) as offline_task,
    cast(offline_split as {{ dbt.type_string() }}) as offline_split,
    cast(offline_metric as {{ dbt.type_string() }}) as offline_metric,
    offline_delta,
    offline_std_error,
    offline_ci_low,
    offline_ci_high,
    offline_alpha,
    offline_n,
    offline_reason,
    ope_estimator,
    ope_reward,
    ope_target_policy,
    ope_baseline_policy,
    ope_n_days,
    ope_n_slots,
    ope_alpha,
    ope_target_value,
    ope_target_ci_low,
    ope_target_ci_high,
    ope_baseline_value,
    ope_baseline_ci_low,
    ope_baseline_ci_high,
    ope_delta,
    ope_std_error,
    ope_ci_low,
    ope_ci_high,
    ope_reason,
    online_metric,
    online_estimator,
    online_delta,
    online_std_error,
    online_ci_low,
    online_ci_high,
    online_p_value,
    online_alpha,
    online_n,
    online_label_maturity,
    offline_ci_low > 0 or offline_ci_high < 0 as offline_significant,
    ope_ci_low > 0 or ope_ci_high < 0 as ope_significant,
    online_ci_low > 0 or online_ci_high < 0 as online_significant,
    sign(offline_direction * offline_delta) = sign(online_direction * online_delta) as offline_agrees_online,
    sign(ope_delta) = sign(online_direction * online_delta) as ope_agrees_online,
    sign(offline_direction * offline_delta) = sign(ope_delta) as offline_agrees_ope
from joined
cross join {{ ref('int_labels__data_end') }} as d
