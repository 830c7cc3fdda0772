-- One row per purchase attributed to a counted click: the user's latest counted click on
-- the same item at most attribution_window_days before the purchase (inclusive). Ties on
-- the click time go to the larger click event_id, so the rule is deterministic.
with conversions as (
    select event_id, user_id, item_id, ts, revenue, landed_at
    from {{ ref('stg_landing__conversions') }}
),

-- One candidate per (user, item, click time): the ASOF join then has no ties to break.
ranked_clicks as (
    select
        user_id, item_id, clicked_at, click_event_id, impression_event_id,
        row_number() over (
            partition by user_id, item_id, clicked_at order by click_event_id desc
        ) as tie_rank
    from {{ ref('int_labels__counted_clicks') }}
),

candidate_clicks as (
    select user_id, item_id, clicked_at, click_event_id, impression_event_id
    from ranked_clicks
    where tie_rank = 1
),

latest_click as (
    {{ asof_left_join('conversions', 'candidate_clicks', ['user_id', 'item_id'], 'ts', 'clicked_at',
                      ['clicked_at', 'click_event_id', 'impression_event_id']) }}
)

select
    event_id as conversion_event_id,
    r_impression_event_id as impression_event_id,
    r_click_event_id as click_event_id,
    r_clicked_at as clicked_at,
    ts as purchased_at,
    revenue,
    landed_at
from latest_click
where r_click_event_id is not null
  and ts <= {{ dbt.dateadd('day', var('attribution_window_days'), 'r_clicked_at') }}
