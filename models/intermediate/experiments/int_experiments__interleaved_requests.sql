-- One row per team-draft interleaved request: the items each team contributed and the
-- clicks and attributed purchases on them (credit goes to the team that placed the item).
with impressions as (
    select * from {{ ref('int_labels__impressions') }}
    where team is not null
)

select
    request_id,
    min(user_id) as user_id,
    min(impression_ts) as served_at,
    sum(case when team = 'A' then 1 else 0 end) as items_a,
    sum(case when team = 'B' then 1 else 0 end) as items_b,
    sum(case when team = 'A' and is_clicked then 1 else 0 end) as clicks_a,
    sum(case when team = 'B' and is_clicked then 1 else 0 end) as clicks_b,
    sum(case when team = 'A' and is_converted then 1 else 0 end) as purchases_a,
    sum(case when team = 'B' and is_converted then 1 else 0 end) as purchases_b
from impressions
group by request_id
