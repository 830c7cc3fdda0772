{#- The user's most recent distinct items (docs/features.md, "Recent items"). -#}


{% macro pit_recent_items_n() -%}
  {%- set n = var('feature_recent_items') | int -%}
  {%- if n < 1 -%}{{ exceptions.raise_compiler_error("var feature_recent_items must be >= 1") }}{%- endif -%}
  {{ return(n) }}
{%- endmacro %}

{% macro pit_recent_items_lookback() -%}
  {%- set n = var('feature_recent_items_lookback') | int -%}
  {%- if n < 1 -%}{{ exceptions.raise_compiler_error("var feature_recent_items_lookback must be >= 1") }}{%- endif -%}
  {{ return(n) }}
{%- endmacro %}


{#- CTEs ending in pit_user_recent_stream: one row per (user_id, ts) of the user's events
    (`impression_events` user_id, ts, item_id, position; `click_events` user_id, ts,
    item_id) with recent_item_ids_raw, the items of the user's last
    feature_recent_items_lookback event times up to and including ts, most recent first,
    with repeats (pit_user_recent_items deduplicates them for the points that read it). -#}
{% macro pit_user_recent_stream(impression_events, click_events) -%}
pit_recent_events as (
    select user_id, ts, item_id, 1 as kind_rank, position from {{ impression_events }}
    union all
    select user_id, ts, item_id, 0 as kind_rank, cast(null as integer) as position from {{ click_events }}
),

-- one row per (user, event time): its first distinct items, clicks before impressions, then
-- by position and item id; later items of the same time can never be among a user's
-- feature_recent_items most recent, so they are dropped here
pit_recent_groups as (
    select user_id, ts, {{ list_first_distinct('item_ids', pit_recent_items_n()) }} as item_ids
    from (
        select user_id, ts, {{ ordered_list_agg('item_id', ['kind_rank', 'position', 'item_id']) }} as item_ids
        from pit_recent_events
        where ts is not null
        group by user_id, ts
    ) as per_event_time
),

-- the lists of the last event times concatenated, from lag()s, which keep their order on
-- every engine
pit_user_recent_stream as (
  {%- set lists = ['item_ids'] -%}
  {%- for offset in range(1, pit_recent_items_lookback()) -%}
    {%- do lists.append('coalesce(lag(item_ids, ' ~ offset ~ ') over recent_window, ' ~ empty_list('bigint') ~ ')') -%}
  {%- endfor %}
    select
        user_id, ts,
        {{ list_flatten(list_of(lists)) }} as recent_item_ids_raw
    from pit_recent_groups
    window recent_window as (partition by user_id order by ts)
)
{%- endmacro %}


{#- The user's most recent distinct items before the point, for points (user_id, point_ts):
    user_recent_item_ids (empty when the user has no earlier event). Reads
    int_features__user_recent_stream, looked up once per distinct (user, point). -#}
{% macro pit_user_recent_items(name, points) -%}
{{ name }}__keys as (
    select distinct user_id, point_ts from {{ points }}
),

{{ pit_latest_before(name ~ '__state', name ~ '__keys', ref('int_features__user_recent_stream'), ['user_id'],
                     'point_ts', ['recent_item_ids_raw']) }},

{{ name }} as (
    select
        points.*,
        coalesce(
            {{ list_first_distinct('state.recent_item_ids_raw', pit_recent_items_n()) }},
            {{ empty_list('bigint') }}
        ) as user_recent_item_ids
    from {{ points }} as points
    left join {{ name }}__state as state
        on points.user_id = state.user_id and points.point_ts = state.point_ts
)
{%- endmacro %}


{#- 1.0 where the item is in the user's recent items, else 0.0. -#}
{% macro pit_item_in_recent(recent_item_ids, item_id) -%}
    cast(case when {{ list_contains(recent_item_ids, item_id) }} then 1 else 0 end as double)
{%- endmacro %}
