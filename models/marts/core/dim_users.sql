-- One row per user: the latest attributes (the newest valid users event by ts; ties go to
-- the later delivery).
with ranked as (
    select
        *,
        row_number() over (partition by user_id order by ts desc, landed_at desc, event_id desc) as recency_rank
    from {{ ref('stg_landing__users') }}
)

select user_id, signup_at, country, device, ts as updated_at
from ranked
where recency_rank = 1
