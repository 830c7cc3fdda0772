{#- The event streams the feature groups read (docs/features.md, "How it is computed"),
    materialised once as the int_features__*_stream tables: every model that computes
    features reads the same tables (computed inside each of them, the streams were five
    times the work). Each feature group macro refs the streams it reads, so a model depends
    on exactly those. -#}


{#- The events of `measures` (impressions, clicks, purchases) at their own times, as CTEs
    pit_<measure>_events: impressions (user_id, item_id, position, ts), clicks (user_id,
    item_id, ts), purchases (item_id, ts); with `by_item_attributes`, impressions and
    clicks also carry the item's item_category and item_brand (int_core__items). -#}
{% macro pit_events(measures, by_item_attributes=false) -%}
  {#- ref() only the measures asked for: each is a dependency of the model -#}
  {%- set columns = {'impressions': 'user_id, item_id, position, impression_ts as ts',
                     'clicks': 'user_id, item_id, ts', 'purchases': 'item_id, ts'} -%}
  {%- set models = {'impressions': 'int_labels__impressions', 'clicks': 'stg_landing__clicks',
                    'purchases': 'stg_landing__conversions'} -%}
  {%- if by_item_attributes %}
pit_items as (
    select item_id, category as item_category, brand as item_brand
    from {{ ref('int_core__items') }}
),
  {%- endif %}
  {%- for m in measures %}

pit_{{ m }}_events as (
    {%- if by_item_attributes and m != 'purchases' %}
    select events.*, items.item_category, items.item_brand
    from (select {{ columns[m] }} from {{ ref(models[m]) }}) as events
    left join pit_items as items on events.item_id = items.item_id
    {%- else %}
    select {{ columns[m] }} from {{ ref(models[m]) }}
    {%- endif %}
){{ ',' if not loop.last }}
  {%- endfor %}
{%- endmacro %}


{#- A stream model's query: running totals cum_<measure> of the measures (impressions,
    clicks, purchases) per (keys..., ts) (pit_cumulative_stream). Keys may include
    item_category and item_brand, the event's item's. -#}
{% macro pit_stream(keys, measures) -%}
  {%- set events = {} -%}
  {%- for m in measures %}{% do events.update({m: 'pit_' ~ m ~ '_events'}) %}{% endfor -%}
with
{{ pit_events(measures, by_item_attributes=('item_category' in keys or 'item_brand' in keys)) }}

{{ pit_cumulative_stream(keys, events) }}
{%- endmacro %}
