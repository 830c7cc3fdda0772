-- One row per team-draft interleaved request: the items each team contributed and the
-- clicks and attributed purchases on them (credit goes to the team that placed the item).
-- Purchases still to come: clicks_immature counts the request's clicks whose attribution
-- window is open, and purchases_a_corrected / purchases_b_corrected weight each converted
-- impression by 1 / the probability its purchase has arrived by now
-- (int_delayed__click_arrival): the eventual credits, in expectation (null where the delay
-- curve is not identified).
with impressions as (
    select
        labels.*,
        arrival.arrival_probability
    from {{ ref('int_labels__impressions') }} as labels
    left join {{ ref('int_delayed__click_arrival') }} as arrival
        on arrival.event_id = labels.event_id
    where labels.team is not null
),

requests as (
    select
        request_id,
        min(user_id) as user_id,
        min(impression_ts) as served_at,
        sum(case when team = 'A' then 1 else 0 end) as items_a,
        sum(case when team = 'B' then 1 else 0 end) as items_b,
        sum(case when team = 'A' and is_clicked then 1 else 0 end) as clicks_a,
        sum(case when team = 'B' and is_clicked then 1 else 0 end) as clicks_b,
        sum(case when team = 'A' and is_converted then 1 else 0 end) as purchases_a,
        sum(case when team = 'B' and is_converted then 1 else 0 end) as purchases_b,
        sum(case when is_clicked and not is_label_mature then 1 else 0 end) as clicks_immature,
        {#- a click without an arrival probability (curve not identified), or a conversion whose
            probability is 0, makes the corrected credits unknown -#}
        sum(case when is_clicked and (arrival_probability is null
                                      or (is_converted and arrival_probability = 0))
            then 1 else 0 end) as clicks_without_arrival,
        sum(case when team = 'A' and is_converted then 1.0 / nullif(arrival_probability, 0) else 0 end)
            as purchases_a_corrected,
        sum(case when team = 'B' and is_converted then 1.0 / nullif(arrival_probability, 0) else 0 end)
            as purchases_b_corrected
    from impressions
    group by request_id
)

select
    request_id,
    user_id,
    served_at,
    items_a,
    items_b,
    clicks_a,
    clicks_b,
    purchases_a,
    purchases_b,
    clicks_immature,
    cast(case when clicks_without_arrival > 0 then null else purchases_a_corrected end as double)
        as purchases_a_corrected,
    cast(case when clicks_without_arrival > 0 then null else purchases_b_corrected end as double)
        as purchases_b_corrected
from requests
