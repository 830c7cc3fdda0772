-- One row: the model_id that served the most impressions (ties: the smallest id), the
-- production model wherever its var (offline_production_model, cf_logging_model_id,
-- shadow_production_model) is null (macros/production_model_id.sql). A table, so the
-- impressions are counted once per build, not in every model that asks.
{{ config(materialized='table') }}

select model_id, count(*) as n_impressions
from {{ ref('stg_landing__impressions') }}
where model_id is not null
group by model_id
order by count(*) desc, model_id
limit 1
