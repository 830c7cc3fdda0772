{#- One row per impression with the propensity the counterfactual estimators use: the
    logged one where the logging policy knew it, else an estimate from a propensity model
    fitted on the logged actions (flagged). The model is empirical and per logging model:
    P(position = k | model_id, the item's rank by served score within the list = r) =
    n(model, r, k) / n(model, r), fitted on every logged list of that model. A deterministic
    ranker (fallback_popular orders by its served score) gets 1 at its own positions;
    team-draft interleaving gets the spread of positions its coin flips produce. -#}
{#- A table: seven models and the tests read it; as a view each would refit the model. -#}
{{ config(materialized='table') }}
with labels as (
    select * from {{ ref('int_labels__impressions') }}
),

requests as (
    select request_id, surface, device from {{ ref('stg_landing__requests') }}
),

ranked as (
    select
        labels.*,
        row_number() over (
            partition by labels.request_id
            order by labels.score desc nulls last, labels.item_id
        ) as score_rank,
        count(*) over (partition by labels.request_id) as list_length
    from labels
),

-- The propensity model: fitted only for logging models that leave propensities null.
models_missing as (
    select distinct model_id from ranked where propensity is null
),

position_model as (
    select
        ranked.model_id,
        ranked.score_rank,
        ranked.position,
        cast(count(*) as double) / sum(count(*)) over (partition by ranked.model_id, ranked.score_rank) as p_hat,
        sum(count(*)) over (partition by ranked.model_id, ranked.score_rank) as n_fit
    from ranked
    inner join models_missing on ranked.model_id = models_missing.model_id
    group by ranked.model_id, ranked.score_rank, ranked.position
)

select
    ranked.event_id,
    ranked.request_id,
    ranked.user_id,
    ranked.item_id,
    ranked.position,
    ranked.impression_ts,
    ranked.impression_date,
    ranked.model_id,
    requests.surface,
    requests.device,
    ranked.score,
    ranked.score_rank,
    ranked.list_length,
    ranked.propensity as logged_propensity,
    coalesce(ranked.propensity, position_model.p_hat) as propensity,
    case
        when ranked.propensity is not null then 'logged'
        when position_model.p_hat is not null then 'estimated'
        else 'missing'
    end as propensity_source,
    ranked.propensity is null and position_model.p_hat is not null as is_propensity_estimated,
    position_model.n_fit as propensity_model_n,
    ranked.is_clicked,
    ranked.is_converted,
    ranked.revenue,
    ranked.is_click_label_mature,
    ranked.is_label_mature
from ranked
left join requests on ranked.request_id = requests.request_id
left join position_model
    on ranked.propensity is null
    and ranked.model_id = position_model.model_id
    and ranked.score_rank = position_model.score_rank
    and ranked.position = position_model.position
