-- Training/serving skew: one row per served feature x request device (grain: feature_name,
-- device). Each value a ranker logged in served_features is paired with the warehouse's own
-- point-in-time value of the same feature for the same request and item
-- (int_features__impressions; user-level features by request), for the features both sides
-- define (var feature_skew_features). A feature whose served values drift from the
-- warehouse's on one device (a unit change, a stale cache) shows a mismatch rate and a
-- geometric-mean ratio far from 1 there.
{%- set features = var('feature_skew_features') %}
{%- set tolerance = var('feature_skew_tolerance') %}

with served as (
    select request_id, item_id, feature_name, feature_value
    from {{ ref('stg_landing__served_features') }}
    where feature_name in ({% for f in features %}'{{ f }}'{% if not loop.last %}, {% endif %}{% endfor %})
),

offline as (
    select request_id, item_id, device,
        {%- for f in features %}
        cast({{ f }} as double) as {{ f }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from {{ ref('int_features__impressions') }}
),

-- User-level features are logged once per request (item_id null): one value per request.
offline_by_request as (
    select request_id, min(device) as device,
        {%- for f in features %}
        min({{ f }}) as {{ f }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from offline
    group by request_id
),

pairs as (
    {%- for f in features %}
    select served.feature_name, coalesce(item_rows.device, request_rows.device) as device,
        served.feature_value as served_value,
        case when served.item_id is null then request_rows.{{ f }} else item_rows.{{ f }} end as offline_value
    from served
    left join offline as item_rows
        on served.item_id is not null
        and item_rows.request_id = served.request_id and item_rows.item_id = served.item_id
    left join offline_by_request as request_rows
        on served.item_id is null and request_rows.request_id = served.request_id
    where served.feature_name = '{{ f }}'
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
)

select
    feature_name,
    coalesce(device, 'unmatched') as device,
    count(*) as n_served,
    count(offline_value) as n_paired,
    avg(case when offline_value is not null then served_value end) as mean_served,
    avg(case when served_value is not null then offline_value end) as mean_offline,
    avg(abs(served_value - offline_value)) as mean_abs_difference,
    avg(case when abs(served_value - offline_value) > {{ tolerance }} * greatest(1, abs(offline_value))
        then 1 when served_value is not null and offline_value is not null then 0 end) as mismatch_rate,
    exp(avg(case when served_value > 0 and offline_value > 0 then ln(served_value / offline_value) end))
        as geometric_mean_ratio
from pairs
group by 1, 2
