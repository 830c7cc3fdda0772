{#- The one input of the offline-evaluation marts: one row per model x task x impression,
    the model's score for the logged item next to the label, the segment columns and the
    split. Long on purpose: a new score source joins the evaluation by adding one CTE that
    yields (model_id, version, score_source, task, event_id, score) and one `union all` line
    in `model_scores` below. Everything downstream (metrics, deltas against the production
    model, reliability bins) is keyed on model_id and needs no change.

    Score sources: the production policy's served score and the challengers' shadow scores
    (one score per impression, used for both tasks), and every current candidate model of
    fct_model_scores (one score per task, its calibrated probability: calibration is
    monotone, so ranking metrics are those of the raw score, and log-loss / ECE are fair).
    Candidates are scored on the splits of var model_score_splits (default test only).

    Tasks:
      click      label = is_clicked; ranking relevance = is_clicked (0/1); every impression.
      conversion label = is_converted; ranking relevance graded purchase 2 > click 1 > none 0;
                 every impression: is_label_mature says whether a false is_converted is
                 final, elapsed_hours how long its purchase has had to arrive (the marts
                 keep mature rows only or correct for the purchases still to come). -#}

{#- A table, not a view: both Python models read it, and the joins are done once. -#}
{{ config(materialized='table') }}

{%- set production_model = production_model_id('offline_production_model') -%}
{%- set splits = var('offline_splits') -%}

with labels as (
    select * from {{ ref('int_labels__impressions') }}
),

splits as (
    select impression_date, split from {{ ref('int_labels__split_dates') }}
    where split in ({% for s in splits %}'{{ s }}'{% if not loop.last %}, {% endif %}{% endfor %})
),

requests as (
    select request_id, device, surface from {{ ref('stg_landing__requests') }}
),

users as (
    select user_id, signup_at from {{ ref('int_core__users') }}
),

items as (
    select item_id, category, created_at from {{ ref('int_core__items') }}
),

data_end as (
    select as_of from {{ ref('int_labels__data_end') }}
),

task_names as (
    select cast('click' as string) as task
    union all
    select cast('conversion' as string) as task
),

-- The production policy's own lists, with the score it served (a ranking score).
served_scores as (
    select
        labels.model_id,
        cast('logged' as string) as version,
        cast('served' as string) as score_source,
        task_names.task,
        labels.event_id,
        labels.score
    from labels
    cross join task_names
    where labels.model_id = {{ production_model }}
      and labels.score is not null
),

-- Challengers scored off the critical path on the same (production) requests.
shadow_ranked as (
    select
        shadow.model_id,
        labels.event_id,
        shadow.score,
        row_number() over (
            partition by shadow.model_id, shadow.request_id, shadow.item_id
            order by shadow.ts, shadow.event_id
        ) as score_rank
    from {{ ref('stg_landing__shadow_scores') }} as shadow
    inner join labels
        on labels.request_id = shadow.request_id
        and labels.item_id = shadow.item_id
        and labels.model_id = {{ production_model }}
    where shadow.score is not null
),

shadow_scores as (
    select
        shadow_ranked.model_id,
        cast('logged' as string) as version,
        cast('shadow' as string) as score_source,
        task_names.task,
        shadow_ranked.event_id,
        shadow_ranked.score
    from shadow_ranked
    cross join task_names
    where shadow_ranked.score_rank = 1
),

-- Candidate models trained and scored by this build (dim_model_registry is_current).
candidate_scores as (
    select
        model_id,
        version,
        cast('candidate' as string) as score_source,
        task,
        event_id,
        calibrated_score as score
    from {{ ref('int_candidates__scores') }}
),

-- The seam: add score sources here (see the header).
model_scores as (
    select * from served_scores
    union all
    select * from shadow_scores
    union all
    select * from candidate_scores
),

impressions as (
    select
        labels.event_id,
        labels.request_id,
        labels.user_id,
        labels.item_id,
        labels.position,
        labels.impression_date,
        splits.split,
        labels.is_clicked,
        labels.is_converted,
        labels.is_label_mature,
        greatest(cast({{ dbt.datediff('labels.impression_ts', 'data_end.as_of', 'second') }} as double) / 3600, 0)
            as elapsed_hours,
        coalesce(requests.device, 'unknown') as device,
        {{ age_segment('labels.impression_ts', 'users.signup_at', var('offline_new_user_days'),
                    'new', 'returning') }} as user_tenure,
        {{ age_segment('labels.impression_ts', 'items.created_at', var('offline_cold_start_days'),
                    'cold_start', 'warm') }} as item_freshness,
        coalesce(items.category, 'unknown') as item_category
    from labels
    inner join splits on splits.impression_date = labels.impression_date
    cross join data_end
    left join requests on requests.request_id = labels.request_id
    left join users on users.user_id = labels.user_id
    left join items on items.item_id = labels.item_id
    where labels.model_id = {{ production_model }}
),

tasks as (
    select
        cast('click' as string) as task,
        impressions.*,
        case when is_clicked then 1 else 0 end as label,
        case when is_clicked then 1 else 0 end as relevance
    from impressions
    union all
    select
        cast('conversion' as string) as task,
        impressions.*,
        case when is_converted then 1 else 0 end as label,
        case when is_converted then 2 when is_clicked then 1 else 0 end as relevance
    from impressions
)

select
    model_scores.model_id,
    model_scores.version,
    model_scores.score_source,
    tasks.task,
    tasks.request_id,
    tasks.item_id,
    tasks.event_id,
    tasks.user_id,
    tasks.position,
    model_scores.score,
    tasks.label,
    tasks.relevance,
    tasks.is_label_mature,
    tasks.elapsed_hours,
    tasks.impression_date,
    tasks.split,
    tasks.device,
    tasks.user_tenure,
    tasks.item_freshness,
    tasks.item_category
from model_scores
inner join tasks
    on tasks.event_id = model_scores.event_id
    and tasks.task = model_scores.task
