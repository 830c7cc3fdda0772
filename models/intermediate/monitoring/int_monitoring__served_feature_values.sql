-- One row per served impression with the feature values the ranker logged for it
-- (stg_landing__served_features), one column per feature of var monitoring_served_features:
-- the value logged for the (request, item), or, for a user-level feature logged once per
-- request (item_id null), the request's value repeated on each of its impressions - the
-- impression grain of int_features__impressions, so the served and warehouse distributions
-- of fct_feature_drift weigh rows alike. Day and segments (var monitoring_feature_segments)
-- are the impression's. Impressions without any served value are left out: empty when the
-- landing zone has no served_features.
{{ config(materialized='table') }}
{%- set features = var('monitoring_served_features') | map(attribute='name') | list %}
{%- set segments = var('monitoring_feature_segments') %}

with served as (
    select request_id, item_id, feature_name, feature_value
    from {{ ref('stg_landing__served_features') }}
    where {% if features %}feature_name in ({% for f in features %}'{{ f }}'{% if not loop.last %}, {% endif %}{% endfor %}){% else %}1 = 0{% endif %}
),

-- one value per (request, item, feature) and per (request, feature); a repeat keeps the smallest
item_values as (
    select
        request_id,
        item_id
        {%- for f in features %},
        min(case when feature_name = '{{ f }}' then feature_value end) as {{ adapter.quote(f) }}
        {%- endfor %}
    from served
    where item_id is not null
    group by request_id, item_id
),

request_values as (
    select
        request_id
        {%- for f in features %},
        min(case when feature_name = '{{ f }}' then feature_value end) as {{ adapter.quote(f) }}
        {%- endfor %}
    from served
    where item_id is null
    group by request_id
)

select
    impressions.event_id,
    impressions.request_id,
    impressions.item_id,
    impressions.impression_date
    {%- for s in segments %},
    impressions.{{ adapter.quote(s) }}
    {%- endfor %}
    {%- for f in features %},
    coalesce(item_values.{{ adapter.quote(f) }}, request_values.{{ adapter.quote(f) }}) as {{ adapter.quote(f) }}
    {%- endfor %}
from {{ ref('int_features__impressions') }} as impressions
left join item_values
    on impressions.request_id = item_values.request_id
    and impressions.item_id = item_values.item_id
left join request_values
    on impressions.request_id = request_values.request_id
where item_values.request_id is not null or request_values.request_id is not null
