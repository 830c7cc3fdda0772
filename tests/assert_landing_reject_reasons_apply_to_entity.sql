-- Rows are rejected only for reasons that can apply to their entity: dimensions have no
-- unknown_* reasons, and the column-specific rules only fire where the column exists.
select entity, reason, count(*) as n_rows
from {{ ref('stg_landing__rejected_events') }}
where (entity in ('users', 'items') and reason in ('unknown_user', 'unknown_item'))
   or (entity <> 'impressions' and reason in ('invalid_propensity', 'invalid_position'))
   or (entity <> 'conversions' and reason = 'negative_revenue')
   or (entity = 'shadow_scores' and reason = 'unknown_user')
group by entity, reason
