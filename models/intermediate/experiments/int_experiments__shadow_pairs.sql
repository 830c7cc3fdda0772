-- One row per (request, item, challenger) where a challenger shadow-scored an item the
-- production model (var shadow_production_model; null: the most-served model) served: both scores, the position, the
-- observed click, and both models' latency for the request.
with shadow as (
    select * from {{ ref('stg_landing__shadow_scores') }}
),

impressions as (
    select * from {{ ref('int_labels__impressions') }}
    where model_id = {{ production_model_id('shadow_production_model') }}
),

requests as (
    select request_id, latency_ms from {{ ref('stg_landing__requests') }}
)

select
    shadow.request_id,
    shadow.item_id,
    shadow.model_id as challenger_model_id,
    impressions.model_id as production_model_id,
    impressions.user_id,
    impressions.position,
    impressions.score as production_score,
    shadow.score as challenger_score,
    cast(impressions.is_clicked as integer) as is_clicked,
    requests.latency_ms as production_latency_ms,
    shadow.latency_ms as challenger_latency_ms
from shadow
inner join impressions
    on shadow.request_id = impressions.request_id
    and shadow.item_id = impressions.item_id
inner join requests
    on shadow.request_id = requests.request_id
