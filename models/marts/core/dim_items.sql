-- One row per item: its latest attributes (the newest valid items event by ts; ties go to
-- the later delivery).
with ranked as (
    select
        *,
        row_number() over (partition by item_id order by ts desc, landed_at desc, event_id desc) as recency_rank
    from {{ ref('stg_landing__items') }}
)

select item_id, category, price, brand, title, created_at, ts as updated_at
from ranked
where recency_rank = 1
