-- Which model wins on which segment, and by how much.
--
-- One row per challenger x task x split x segment x metric (whole split, period = overall):
-- the challenger's and the production model's value on the rows both scored, the paired
-- delta with its 95% interval, and the verdict: the challenger wins / loses when the
-- interval excludes 0 (in the metric's better direction), else no clear winner.
-- Start here in a BI tool (the mart is published as fct_offline_metrics.parquet); change
-- the filters at the bottom (split, metrics) to taste.
with deltas as (
    select
        model_id as challenger,
        baseline_model_id as production,
        task,
        split,
        segment_type,
        segment_value,
        replace(metric, 'delta_', '') as metric,
        model_value as challenger_value,
        baseline_value as production_value,
        value as delta,
        ci_low,
        ci_high,
        n,
        reason
    from {{ ref('fct_offline_metrics') }}
    where period = 'overall'
      and metric like 'delta_%'
),

-- Per task, the latest split with a defined comparison: test, else validation, else train
-- (conversion labels of the last attribution window are not mature yet, so with the
-- default splits the conversion comparison comes from train).
chosen_split as (
    select
        task,
        case
            when max(case when split = 'test' then 1 else 0 end) = 1 then 'test'
            when max(case when split = 'validation' then 1 else 0 end) = 1 then 'validation'
            else 'train'
        end as split
    from deltas
    where delta is not null
    group by task
),

directed as (
    select
        *,
        -- lower is better for the losses and the calibration errors
        case
            when metric in ('log_loss', 'brier_score', 'ece_uniform', 'ece_quantile') then -1
            when metric in ('calibration_in_the_large', 'mean_predicted') then 0
            else 1
        end as better_direction
    from deltas
)

select
    task,
    split,
    segment_type,
    segment_value,
    metric,
    challenger,
    production,
    challenger_value,
    production_value,
    delta,
    ci_low,
    ci_high,
    n,
    case
        when delta is null then 'undefined: ' || reason
        when better_direction = 0 then 'not a score (calibration bias: compare |value|)'
        when ci_low > 0 or ci_high < 0  -- the paired interval excludes 0
            then case when better_direction * delta > 0 then challenger else production end
        else 'no clear winner'
    end as winner,
    better_direction * delta as improvement_by_challenger
from directed
inner join chosen_split using (task, split)
where metric in ('roc_auc', 'average_precision', 'log_loss', 'ece_uniform', 'ndcg@10', 'mrr', 'recall@10')
order by task, metric, segment_type, segment_value
