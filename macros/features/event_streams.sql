{#- The event streams every feature group reads, as CTEs to open a model's `with`:

        with
        {{ pit_feature_streams(impressions=ref(...), clicks=ref(...), purchases=ref(...),
                               items=ref(...)) }},
        points as (select user_id, <t> as point_ts from ...),
        {{ pit_user_features('user_features', 'points', users=ref(...)) }}
        select ... from user_features

    Each event counts at its own event time: impressions (user_id, item_id, position,
    impression_ts) at impression_ts, clicks (user_id, item_id, ts) and purchases (item_id,
    ts) at ts; items (item_id, category, brand) give an event's category and brand.
    The streams, running totals per key (running_totals.sql) named for what the feature
    groups read:
      pit_user_stream (user_id), pit_user_category_stream (user_id, item_category),
      pit_brand_stream (item_brand): cum_impressions, cum_clicks;
      pit_item_stream (item_id), pit_global_stream (no key): cum_impressions, cum_clicks,
      cum_purchases;
      pit_user_recent_stream (user_id): the user's recent items (recent_items.sql). -#}
{% macro pit_feature_streams(impressions, clicks, purchases, items) -%}
  {%- set shown_clicked = {'impressions': 'pit_impression_events', 'clicks': 'pit_click_events'} -%}
  {%- set shown_clicked_bought = {'impressions': 'pit_impression_events', 'clicks': 'pit_click_events',
                                  'purchases': 'pit_purchase_events'} -%}
pit_items as (
    select item_id, category as item_category, brand as item_brand
    from {{ items }}
),

pit_impression_events as (
    select
        impressions.user_id,
        impressions.item_id,
        impressions.position,
        impressions.impression_ts as ts,
        items.item_category,
        items.item_brand
    from {{ impressions }} as impressions
    left join pit_items as items on impressions.item_id = items.item_id
),

pit_click_events as (
    select clicks.user_id, clicks.item_id, clicks.ts, items.item_category, items.item_brand
    from {{ clicks }} as clicks
    left join pit_items as items on clicks.item_id = items.item_id
),

pit_purchase_events as (
    select purchases.item_id, purchases.ts
    from {{ purchases }} as purchases
),

pit_user_stream as ({{ pit_cumulative_stream(['user_id'], shown_clicked) }}),
pit_user_category_stream as ({{ pit_cumulative_stream(['user_id', 'item_category'], shown_clicked) }}),
pit_brand_stream as ({{ pit_cumulative_stream(['item_brand'], shown_clicked) }}),
pit_item_stream as ({{ pit_cumulative_stream(['item_id'], shown_clicked_bought) }}),
pit_global_stream as ({{ pit_cumulative_stream([], shown_clicked_bought) }}),

{{ pit_user_recent_stream('pit_impression_events', 'pit_click_events') }}
{%- endmacro %}
