{#- Point-in-time features: the offline side of a feature store, defined once.

    Every feature of a point (an entity key and a point time t) is computed from events
    strictly before t, each event at its own event time: impressions at their impression ts,
    clicks at their click ts, purchases at their conversion ts. A windowed count over w is
    the count of events in [t - w, t).

    The pattern scales because nothing is joined event-by-point: per key, the increments are
    summed per (key, ts) into an event stream with running totals ordered by ts
    (pit_cumulative_stream); a point then reads the running total at the key's last event
    strictly before t with a strict ASOF join, and a window subtracts the running total at
    the last event strictly before t - w (pit_window_sums).

    The same macros serve the training rows (int_features__impressions, one point per
    impression at the time its list was served) and the online snapshot marts
    (fct_online_features_*, one point per entity at the data's end), so offline and online
    values cannot drift apart. Usage, inside a model's `with`:

        with
        {{ pit_feature_streams() }},
        points as (select user_id, <ts> as point_ts from ...),
        {{ pit_user_features('user_features', 'points') }}
        select ... from user_features

    Each feature-group macro emits CTEs ending in one named `name`: the points' columns,
    internal columns (prefixed `_`), and the group's features. Points: (user_id, point_ts)
    for pit_user_features and pit_user_recent_items; (item_id, point_ts) for
    pit_item_features; (user_id, item_category, point_ts, user_clicks_30d) for
    pit_user_category_features, user_clicks_30d taken from pit_user_features at the same
    point. Engine-specific SQL (ASOF joins, lists) sits in dispatched macros with duckdb__
    and default__ (Spark) variants. docs/features.md describes every feature. -#}


{#- Window lengths, defined once: feature suffix -> [datepart, count]. The suffix is part of
    the contract's column names (features.py), so the lengths are fixed, not vars. -#}
{% macro feature_windows() -%}
  {{ return({'1h': ['hour', 1], '1d': ['day', 1], '7d': ['day', 7], '30d': ['day', 30]}) }}
{%- endmacro %}


{#- The event streams every feature group reads: one CTE each, running totals per key. -#}
{% macro pit_feature_streams() -%}
pit_items as (
    select item_id, category as item_category, brand as item_brand
    from {{ ref('dim_items') }}
),

pit_impression_events as (
    select
        impressions.user_id,
        impressions.item_id,
        impressions.position,
        impressions.impression_ts as ts,
        items.item_category,
        items.item_brand
    from {{ ref('fct_impression_labels') }} as impressions
    left join pit_items as items on impressions.item_id = items.item_id
),

pit_click_events as (
    select clicks.user_id, clicks.item_id, clicks.ts, items.item_category, items.item_brand
    from {{ ref('stg_landing__clicks') }} as clicks
    left join pit_items as items on clicks.item_id = items.item_id
),

pit_purchase_events as (
    select conversions.item_id, conversions.ts
    from {{ ref('stg_landing__conversions') }} as conversions
),

pit_user_increments as (
    select user_id, ts, 1 as impressions, 0 as clicks from pit_impression_events
    union all
    select user_id, ts, 0 as impressions, 1 as clicks from pit_click_events
),

pit_user_stream as (
    {{ pit_cumulative_stream('pit_user_increments', ['user_id'], ['impressions', 'clicks']) }}
),

pit_user_category_increments as (
    select user_id, item_category, ts, 1 as impressions, 0 as clicks from pit_impression_events
    union all
    select user_id, item_category, ts, 0 as impressions, 1 as clicks from pit_click_events
),

pit_user_category_stream as (
    {{ pit_cumulative_stream('pit_user_category_increments', ['user_id', 'item_category'], ['impressions', 'clicks']) }}
),

pit_item_increments as (
    select item_id, ts, 1 as impressions, 0 as clicks, 0 as purchases from pit_impression_events
    union all
    select item_id, ts, 0 as impressions, 1 as clicks, 0 as purchases from pit_click_events
    union all
    select item_id, ts, 0 as impressions, 0 as clicks, 1 as purchases from pit_purchase_events
),

pit_item_stream as (
    {{ pit_cumulative_stream('pit_item_increments', ['item_id'], ['impressions', 'clicks', 'purchases']) }}
),

pit_brand_increments as (
    select item_brand, ts, 1 as impressions, 0 as clicks from pit_impression_events
    union all
    select item_brand, ts, 0 as impressions, 1 as clicks from pit_click_events
),

pit_brand_stream as (
    {{ pit_cumulative_stream('pit_brand_increments', ['item_brand'], ['impressions', 'clicks']) }}
),

pit_global_stream as (
    {{ pit_cumulative_stream('pit_item_increments', [], ['impressions', 'clicks', 'purchases']) }}
),

-- the items a user was shown or clicked, one row per (user, event time), in recency order
pit_recent_events as (
    select user_id, ts, item_id, 1 as kind_rank, position from pit_impression_events
    union all
    select user_id, ts, item_id, 0 as kind_rank, cast(null as integer) as position from pit_click_events
),

pit_recent_groups as (
    {{ pit_items_per_event_time('pit_recent_events', pit_recent_items_n()) }}
),

-- per (user, event time): the items of the user's last feature_recent_items_lookback event
-- times up to it, most recent first; deduplicated only for the points that read it
-- (pit_user_recent_items)
pit_user_recent_stream as (
    {{ pit_recent_groups_window('pit_recent_groups', pit_recent_items_lookback()) }}
)
{%- endmacro %}


{#- Running totals per key: one row per (keys..., ts) with cum_<measure> = the sum of the
    measure over the key's events at or before ts. `increments` has keys, ts and the
    measures; rows with a null ts are not events. -#}
{% macro pit_cumulative_stream(increments, keys, measures) -%}
  {%- set key_list = keys | join(', ') -%}
    select
        {% for k in keys %}{{ k }}, {% endfor %}ts,
        {%- for m in measures %}
        cast(sum({{ m }}) over (
            {% if keys %}partition by {{ key_list }} {% endif %}order by ts
            rows between unbounded preceding and current row
        ) as bigint) as cum_{{ m }}{{ ',' if not loop.last }}
        {%- endfor %}
    from (
        select {% for k in keys %}{{ k }}, {% endfor %}ts
            {%- for m in measures %}, sum({{ m }}) as {{ m }}{% endfor %}
        from {{ increments }}
        where ts is not null
        group by {% for k in keys %}{{ k }}, {% endfor %}ts
    ) as per_event_time
{%- endmacro %}


{#- Emits CTEs ending in `name`: `points` (with point_ts) plus, per measure,
    <prefix>_<measure>_all (events strictly before point_ts) and <prefix>_<measure>_<w>
    (events in [point_ts - w, point_ts)) for each window name w of feature_windows(). -#}
{% macro pit_window_sums(name, points, stream, keys, measures, windows, prefix) -%}
  {%- set lengths = feature_windows() -%}
  {%- set cums = [] -%}{%- for m in measures %}{% do cums.append('cum_' ~ m) %}{% endfor -%}
{{ name }}__bounds as (
    select
        *{% for w in windows %},
        {{ dbt.dateadd(lengths[w][0], -1 * lengths[w][1], 'point_ts') }} as _{{ name }}_from_{{ w }}
        {%- endfor %}
    from {{ points }}
),

{{ name }}__now as (
    {{ asof_left_join(name ~ '__bounds', stream, keys, 'point_ts', 'ts', cums,
                      strict=true, right_prefix='_' ~ name ~ '_now_') }}
),
{%- for w in windows %}
{%- set previous = name ~ ('__now' if loop.first else '__' ~ loop.previtem) %}

{{ name }}__{{ w }} as (
    {{ asof_left_join(previous, stream, keys, '_' ~ name ~ '_from_' ~ w, 'ts', cums,
                      strict=true, right_prefix='_' ~ name ~ '_' ~ w ~ '_') }}
),
{%- endfor %}

{{ name }} as (
    select
        *
        {%- for m in measures %},
        coalesce(_{{ name }}_now_cum_{{ m }}, 0) as {{ prefix }}_{{ m }}_all
        {%- for w in windows %},
        coalesce(_{{ name }}_now_cum_{{ m }}, 0) - coalesce(_{{ name }}_{{ w }}_cum_{{ m }}, 0)
            as {{ prefix }}_{{ m }}_{{ w }}
        {%- endfor %}
        {%- endfor %}
    from {{ name }}__{{ windows[-1] if windows else 'now' }}
)
{%- endmacro %}


{#- A rate: null where the denominator is 0. -#}
{% macro pit_rate(numerator, denominator) -%}
    case when {{ denominator }} > 0 then cast({{ numerator }} as double) / {{ denominator }} end
{%- endmacro %}


{#- Target encoding with additive smoothing toward the global rate before t:
    (successes + m * prior_successes / prior_trials) / (trials + m), m = feature_te_smoothing.
    Null only before the first impression of all (no prior). -#}
{% macro pit_target_encoding(successes, trials, prior_successes, prior_trials) -%}
  {%- set m = var('feature_te_smoothing') -%}
  {%- if m is not number or m <= 0 -%}
    {{ exceptions.raise_compiler_error("var feature_te_smoothing must be a positive number, got " ~ m) }}
  {%- endif -%}
    case when {{ prior_trials }} > 0 then
        (cast({{ successes }} as double) + {{ m }} * (cast({{ prior_successes }} as double) / {{ prior_trials }}))
        / ({{ trials }} + {{ m }})
    end
{%- endmacro %}


{#- Days from `start` to `point_ts` as a double, 0 where start is after the point. -#}
{% macro pit_days_since(start, point_ts) -%}
    case
        when {{ start }} is null or {{ point_ts }} is null then null
        when {{ start }} >= {{ point_ts }} then 0.0
        else {{ dbt.datediff(start, point_ts, 'microsecond') }} / 86400000000.0
    end
{%- endmacro %}


{#- User features of points (user_id, point_ts): static attributes, activity windows and
    the user's target-encoded CTR; also user_clicks_30d, the denominator of
    user_category_click_share_30d (pit_user_category_features reads it from its points). -#}
{% macro pit_user_features(name, points) -%}
{{ pit_window_sums(name ~ '__user', points, 'pit_user_stream', ['user_id'],
                   ['impressions', 'clicks'], ['7d', '30d'], '_' ~ name ~ '_user') }},

{{ pit_window_sums(name ~ '__global', name ~ '__user', 'pit_global_stream', [],
                   ['impressions', 'clicks'], [], '_' ~ name ~ '_global') }},

{{ name }} as (
    {%- set u = '_' ~ name ~ '_user' %}
    {%- set g = '_' ~ name ~ '_global' %}
    select
        points.*,
        users.country as user_country,
        {{ pit_days_since('users.signup_at', 'points.point_ts') }} as user_tenure_days,
        points.{{ u }}_impressions_7d as user_impressions_7d,
        {{ pit_rate('points.' ~ u ~ '_clicks_7d', 'points.' ~ u ~ '_impressions_7d') }} as user_ctr_7d,
        points.{{ u }}_impressions_30d as user_impressions_30d,
        points.{{ u }}_clicks_30d as user_clicks_30d,
        {{ pit_rate('points.' ~ u ~ '_clicks_30d', 'points.' ~ u ~ '_impressions_30d') }} as user_ctr_30d,
        {{ pit_target_encoding('points.' ~ u ~ '_clicks_all', 'points.' ~ u ~ '_impressions_all',
                               'points.' ~ g ~ '_clicks_all', 'points.' ~ g ~ '_impressions_all') }}
            as user_id_te_ctr
    from {{ name }}__global as points
    left join {{ ref('dim_users') }} as users on points.user_id = users.user_id
)
{%- endmacro %}


{#- The user's most recent distinct items before the point, for points (user_id, point_ts):
    user_recent_item_ids (empty when the user has no earlier event). -#}
{% macro pit_user_recent_items(name, points) -%}
{{ name }}__state as (
    {{ asof_left_join(points, 'pit_user_recent_stream', ['user_id'], 'point_ts', 'ts', ['recent_item_ids_raw'],
                      strict=true, right_prefix='_' ~ name ~ '_') }}
),

{{ name }} as (
    select
        *,
        coalesce(
            {{ pit_list_first_distinct('_' ~ name ~ '_recent_item_ids_raw', pit_recent_items_n()) }},
            {{ pit_empty_list('bigint') }}
        ) as user_recent_item_ids
    from {{ name }}__state
)
{%- endmacro %}


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


{#- 1.0 where the item is in the user's recent items, else 0.0. -#}
{% macro pit_item_in_recent(recent_item_ids, item_id) -%}
    cast(case when {{ pit_list_contains(recent_item_ids, item_id) }} then 1 else 0 end as double)
{%- endmacro %}


{#- User x category features of points (user_id, item_category, point_ts, user_clicks_30d),
    user_clicks_30d being pit_user_features' output for the same (user_id, point_ts). -#}
{% macro pit_user_category_features(name, points) -%}
{{ pit_window_sums(name ~ '__category', points, 'pit_user_category_stream', ['user_id', 'item_category'],
                   ['impressions', 'clicks'], ['30d'], '_' ~ name ~ '_category') }},

{{ name }} as (
    {%- set c = '_' ~ name ~ '_category' %}
    select
        *,
        {{ c }}_impressions_30d as user_category_impressions_30d,
        {{ pit_rate(c ~ '_clicks_30d', 'user_clicks_30d') }} as user_category_click_share_30d
    from {{ name }}__category
)
{%- endmacro %}


{#- Item features of points (item_id, point_ts): static attributes, activity windows and
    target encodings of the item (CTR, CVR) and its brand (CTR). -#}
{% macro pit_item_features(name, points) -%}
{{ name }}__static as (
    select
        points.*,
        items.category as item_category,
        items.brand as item_brand,
        items.price as item_price,
        {{ pit_days_since('items.created_at', 'points.point_ts') }} as item_age_days
    from {{ points }} as points
    left join {{ ref('dim_items') }} as items on points.item_id = items.item_id
),

{{ pit_window_sums(name ~ '__item', name ~ '__static', 'pit_item_stream', ['item_id'],
                   ['impressions', 'clicks', 'purchases'], ['1h', '1d'], '_' ~ name ~ '_item') }},

{{ pit_window_sums(name ~ '__brand', name ~ '__item', 'pit_brand_stream', ['item_brand'],
                   ['impressions', 'clicks'], [], '_' ~ name ~ '_brand') }},

{{ pit_window_sums(name ~ '__global', name ~ '__brand', 'pit_global_stream', [],
                   ['impressions', 'clicks', 'purchases'], [], '_' ~ name ~ '_global') }},

{{ name }} as (
    {%- set i = '_' ~ name ~ '_item' %}
    {%- set b = '_' ~ name ~ '_brand' %}
    {%- set g = '_' ~ name ~ '_global' %}
    select
        *,
        {{ i }}_impressions_1h as item_impressions_1h,
        {{ pit_rate(i ~ '_clicks_1h', i ~ '_impressions_1h') }} as item_ctr_1h,
        {{ i }}_impressions_1d as item_impressions_1d,
        {{ pit_rate(i ~ '_clicks_1d', i ~ '_impressions_1d') }} as item_ctr_1d,
        {{ pit_target_encoding(i ~ '_clicks_all', i ~ '_impressions_all', g ~ '_clicks_all', g ~ '_impressions_all') }}
            as item_id_te_ctr,
        {{ pit_target_encoding(i ~ '_purchases_all', i ~ '_impressions_all', g ~ '_purchases_all', g ~ '_impressions_all') }}
            as item_id_te_cvr,
        {{ pit_target_encoding(b ~ '_clicks_all', b ~ '_impressions_all', g ~ '_clicks_all', g ~ '_impressions_all') }}
            as item_brand_te_ctr
    from {{ name }}__global
)
{%- endmacro %}


{#- ---- engine-specific list handling ---- -#}

{#- One row per (user_id, ts) of `events` (user_id, ts, item_id, kind_rank, position):
    item_ids, the first n_items distinct items at that time in recency order (clicks before
    impressions, then by position, then item_id). Later items of the same time can never be
    among a user's n_items most recent, so they are dropped here. -#}
{% macro pit_items_per_event_time(events, n_items) -%}
  {{ return(adapter.dispatch('pit_items_per_event_time', 'receval')(events, n_items)) }}
{%- endmacro %}

{% macro duckdb__pit_items_per_event_time(events, n_items) -%}
    select user_id, ts, {{ pit_list_first_distinct('item_ids', n_items) }} as item_ids
    from (
        select user_id, ts, list(item_id order by kind_rank, position, item_id) as item_ids
        from {{ events }}
        where ts is not null
        group by user_id, ts
    ) as per_event_time
{%- endmacro %}

{% macro default__pit_items_per_event_time(events, n_items) -%}
    select
        user_id, ts,
        slice(array_distinct(
            transform(sort_array(collect_list(struct(kind_rank, position, item_id))), s -> s.item_id)
        ), 1, {{ n_items }}) as item_ids
    from {{ events }}
    where ts is not null
    group by user_id, ts
{%- endmacro %}


{#- One row per (user_id, ts) of `groups` (user_id, ts, item_ids): recent_item_ids_raw,
    the item_ids of the user's last `lookback` event times up to and including ts
    concatenated, most recent first (with repeats: pit_user_recent_items keeps the first
    occurrences for the points that read it). Built from lag()s, which keep their order on
    every engine. -#}
{% macro pit_recent_groups_window(groups, lookback) -%}
  {%- set lists = ['item_ids'] -%}
  {%- for offset in range(1, lookback) -%}
    {%- do lists.append('coalesce(lag(item_ids, ' ~ offset ~ ') over recent_window, ' ~ pit_empty_list('bigint') ~ ')') -%}
  {%- endfor %}
    select
        user_id, ts,
        {{ pit_list_flatten(pit_list_of(lists)) }} as recent_item_ids_raw
    from {{ groups }}
    window recent_window as (partition by user_id order by ts)
{%- endmacro %}


{#- A list of the given SQL expressions. -#}
{% macro pit_list_of(expressions) -%}
  {{ return(adapter.dispatch('pit_list_of', 'receval')(expressions)) }}
{%- endmacro %}

{% macro duckdb__pit_list_of(expressions) -%}
    list_value({{ expressions | join(', ') }})
{%- endmacro %}

{% macro default__pit_list_of(expressions) -%}
    array({{ expressions | join(', ') }})
{%- endmacro %}


{#- A list of lists concatenated. -#}
{% macro pit_list_flatten(list_of_lists) -%}
  {{ return(adapter.dispatch('pit_list_flatten', 'receval')(list_of_lists)) }}
{%- endmacro %}

{% macro default__pit_list_flatten(list_of_lists) -%}
    flatten({{ list_of_lists }})
{%- endmacro %}


{#- The first n distinct elements of a list column, in order (the column is read twice:
    pass a column, not an expression). -#}
{% macro pit_list_first_distinct(list_column, n) -%}
  {{ return(adapter.dispatch('pit_list_first_distinct', 'receval')(list_column, n)) }}
{%- endmacro %}

{% macro duckdb__pit_list_first_distinct(list_column, n) -%}
    list_slice(list_filter({{ list_column }}, lambda x, i: list_position({{ list_column }}, x) = i), 1, {{ n }})
{%- endmacro %}

{% macro default__pit_list_first_distinct(list_column, n) -%}
    -- array_distinct keeps the first occurrence of each element, in order
    slice(array_distinct({{ list_column }}), 1, {{ n }})
{%- endmacro %}


{% macro pit_empty_list(element_type) -%}
  {{ return(adapter.dispatch('pit_empty_list', 'receval')(element_type)) }}
{%- endmacro %}

{% macro duckdb__pit_empty_list(element_type) -%}
    cast([] as {{ element_type }}[])
{%- endmacro %}

{% macro default__pit_empty_list(element_type) -%}
    cast(array() as array<{{ element_type }}>)
{%- endmacro %}


{% macro pit_list_contains(list, value) -%}
  {{ return(adapter.dispatch('pit_list_contains', 'receval')(list, value)) }}
{%- endmacro %}

{% macro duckdb__pit_list_contains(list, value) -%}
    list_contains({{ list }}, {{ value }})
{%- endmacro %}

{% macro default__pit_list_contains(list, value) -%}
    array_contains({{ list }}, {{ value }})
{%- endmacro %}


{#- Every ranking feature (receval.models.features: CATEGORICAL + DENSE) of `slots`, rows
    to score: request_id, user_id, item_id, position, point_ts (when the request's list was
    served) and context_ts (the hour of day is read from it), plus any columns of the
    caller's. Emits CTEs ending in `name`: the slots' columns and the features.
    int_features__impressions (the shown slots) and int_features__candidates (every
    retrieval candidate of a request) both call it, so a candidate is scored on exactly the
    features the models were trained on. Needs pit_feature_streams() before it. -#}
{% macro pit_slot_features(name, slots) -%}
-- Each feature group runs on its own narrow points (the ASOF joins move only keys and
-- timestamps), joined back to the slots at the end. User features are a property of the
-- request: computed once per list.
{{ name }}__request_points as (
    select request_id, user_id, min(point_ts) as point_ts
    from {{ slots }}
    group by request_id, user_id
),

{{ pit_user_features(name ~ '__users', name ~ '__request_points') }},

{{ pit_user_recent_items(name ~ '__user_recent', name ~ '__users') }},

{{ name }}__item_points as (
    select distinct item_id, point_ts from {{ slots }}
),

{{ pit_item_features(name ~ '__items', name ~ '__item_points') }},

{{ name }}__user_category_points as (
    select distinct slots.user_id, pit_items.item_category, slots.point_ts, users.user_clicks_30d
    from {{ slots }} as slots
    left join pit_items on slots.item_id = pit_items.item_id
    inner join {{ name }}__users as users
        on slots.request_id = users.request_id
        and slots.user_id = users.user_id
),

{{ pit_user_category_features(name ~ '__user_categories', name ~ '__user_category_points') }},

{{ name }}__requests as (
    select request_id, device from {{ ref('stg_landing__requests') }}
),

{{ name }} as (
    select
        slots.*,
        -- context
        coalesce(requests.device, 'unknown') as device,
        cast(extract(hour from slots.context_ts) as integer) as hour_of_day,
        -- item
        items.item_category,
        items.item_brand,
        items.item_price,
        items.item_age_days,
        items.item_impressions_1h,
        items.item_ctr_1h,
        items.item_impressions_1d,
        items.item_ctr_1d,
        items.item_id_te_ctr,
        items.item_id_te_cvr,
        items.item_brand_te_ctr,
        -- user
        users.user_country,
        users.user_tenure_days,
        users.user_impressions_7d,
        users.user_ctr_7d,
        users.user_impressions_30d,
        users.user_ctr_30d,
        users.user_id_te_ctr,
        users.user_recent_item_ids,
        {{ pit_item_in_recent('users.user_recent_item_ids', 'slots.item_id') }} as item_in_user_recent,
        -- user x item category
        user_categories.user_category_impressions_30d,
        user_categories.user_category_click_share_30d
    from {{ slots }} as slots
    inner join {{ name }}__user_recent as users
        on slots.request_id = users.request_id
        and slots.user_id = users.user_id
    inner join {{ name }}__items as items
        on slots.item_id = items.item_id
        and slots.point_ts = items.point_ts
    inner join {{ name }}__user_categories as user_categories
        on slots.user_id = user_categories.user_id
        and items.item_category is not distinct from user_categories.item_category
        and slots.point_ts = user_categories.point_ts
    left join {{ name }}__requests as requests on slots.request_id = requests.request_id
)
{%- endmacro %}
