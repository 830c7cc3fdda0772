{#- The counting engine of the point-in-time features (docs/features.md, "How it is
    computed"): events are summed per (key, event time) into running totals
    (pit_cumulative_stream); a point (key, t) reads the running total at the key's last
    event strictly before t with a strict ASOF join, and a count over [t - w, t) subtracts
    the running total at the last event strictly before t - w (pit_window_counts). -#}


{#- Window lengths, defined once: window name -> [datepart, count]. The names are part of
    the contract's column names (receval.models.features), so the lengths are fixed, not
    vars. -#}
{% macro feature_windows() -%}
  {{ return({'1h': ['hour', 1], '1d': ['day', 1], '7d': ['day', 7], '30d': ['day', 30]}) }}
{%- endmacro %}


{#- Running totals per key: one row per (keys..., ts) with cum_<measure> = the number of the
    measure's events of the key at or before ts. `events` maps each measure to the relation
    of its events (the keys and ts, a row an event); a row with a null ts is no event. -#}
{% macro pit_cumulative_stream(keys, events) -%}
    select
        {% for k in keys %}{{ k }}, {% endfor %}ts,
        {%- for m in events %}
        cast(sum({{ m }}) over (
            {% if keys %}partition by {{ keys | join(', ') }} {% endif %}order by ts
            rows between unbounded preceding and current row
        ) as bigint) as cum_{{ m }}{{ ',' if not loop.last }}
        {%- endfor %}
    from (
        select {% for k in keys %}{{ k }}, {% endfor %}ts
            {%- for m in events %}, sum({{ m }}) as {{ m }}{% endfor %}
        from (
            {%- for m, relation in events.items() %}
            select {% for k in keys %}{{ k }}, {% endfor %}ts
                {%- for other in events %}, {{ 1 if other == m else 0 }} as {{ other }}{% endfor %}
            from {{ relation }}
            {%- if not loop.last %}
            union all
            {%- endif %}
            {%- endfor %}
        ) as increments
        where ts is not null
        group by {% for k in keys %}{{ k }}, {% endfor %}ts
    ) as per_event_time
{%- endmacro %}


{#- Emits CTEs ending in `name`: the rows of `points` (the keys, the time column `at` and
    any others) and `columns` of the stream's last row of the key strictly before `at` (null
    where there is none): a strict ASOF join. Only the stream's rows of the points' keys
    before the last point are read, and only those from the earliest point on go through the
    ASOF join (it sorts its whole right side); a point with none of them before it takes the
    key's last earlier row from a hash aggregate (`__before`), which needs no sort. So a day
    batch of int_features__impression_features sorts the stream rows of its days (and of the
    longest window before them) instead of the whole history. Keys match with `=`, as in
    the ASOF join: a null key finds nothing. The helper columns _before_<column> and
    _recent_<column> stay in the output. -#}
{% macro pit_latest_before(name, points, stream, keys, at, columns) -%}
{{ name }}__stream as (
    select stream.*, stream.ts >= bounds.first_at as is_recent
    from {{ stream }} as stream
    cross join (select min({{ at }}) as first_at, max({{ at }}) as last_at from {{ points }}) as bounds
    {%- if keys %}
    inner join (select distinct {{ keys | join(', ') }} from {{ points }}) as point_keys
        on {% for k in keys %}stream.{{ k }} = point_keys.{{ k }}{{ ' and ' if not loop.last }}{% endfor %}
    {%- endif %}
    where stream.ts < bounds.last_at
),

{{ name }}__before as (
    select {% for k in keys %}{{ k }}, {% endfor %}
        {%- for c in columns %}max_by({{ c }}, ts) as {{ c }}{{ ', ' if not loop.last }}{% endfor %}
    from {{ name }}__stream
    where not is_recent
    {%- if keys %}
    group by {{ keys | join(', ') }}
    {%- endif %}
),

{{ name }}__points as (
    select points.*{% for c in columns %}, before.{{ c }} as _before_{{ c }}{% endfor %}
    from {{ points }} as points
    {%- if keys %}
    left join {{ name }}__before as before
        on {% for k in keys %}points.{{ k }} = before.{{ k }}{{ ' and ' if not loop.last }}{% endfor %}
    {%- else %}
    cross join {{ name }}__before as before
    {%- endif %}
),

{{ name }}__recent as (
    select * from {{ name }}__stream where is_recent
),

{{ name }}__probed as (
    {{ asof_left_join(name ~ '__points', name ~ '__recent', keys, at, 'ts', columns, strict=true, right_prefix='_recent_') }}
),

{{ name }} as (
    select *{% for c in columns %}, coalesce(_recent_{{ c }}, _before_{{ c }}) as {{ c }}{% endfor %}
    from {{ name }}__probed
)
{%- endmacro %}


{#- Emits CTEs ending in `name`: the columns of `points` (the keys and point_ts, and any
    others) plus one count per entry of `counts`, column name -> [measure, window]: the
    number of the key's events of the measure in [point_ts - window, point_ts), window a
    name of feature_windows() or 'all' (every event strictly before point_ts). `stream` is
    a pit_cumulative_stream on `keys`.
    One lookup (pit_latest_before) reads the stream for every bound a count needs: point_ts
    and point_ts - w per window, as rows of one probe relation of the distinct (keys,
    point_ts). The counts are pivoted and joined back to the points. A chain of one ASOF
    join per bound sorted the stream once per window, and carrying the points' other
    columns through the joins multiplied what they spill. -#}
{% macro pit_window_counts(name, points, stream, keys, counts) -%}
  {%- set lengths = feature_windows() -%}
  {%- set measures = [] -%}
  {%- set windows = [] -%}
  {%- for measure, window in counts.values() -%}
    {%- if measure not in measures %}{% do measures.append(measure) %}{% endif -%}
    {%- if window != 'all' and window not in windows %}{% do windows.append(window) %}{% endif -%}
  {%- endfor -%}
  {%- set cums = [] -%}
  {%- for m in measures %}{% do cums.append('cum_' ~ m) %}{% endfor -%}
  {%- set key_columns -%}{% for k in keys %}{{ k }}, {% endfor %}point_ts{%- endset -%}
{{ name }}__keys as (
    select distinct {{ key_columns }} from {{ points }}
),

{{ name }}__probes as (
    select {{ key_columns }}, 'now' as bound, point_ts as probe_ts from {{ name }}__keys
    {%- for w in windows %}
    union all
    select {{ key_columns }}, '{{ w }}' as bound,
        {{ dbt.dateadd(lengths[w][0], -1 * lengths[w][1], 'point_ts') }} as probe_ts
    from {{ name }}__keys
    {%- endfor %}
),

{{ pit_latest_before(name ~ '__probed', name ~ '__probes', stream, keys, 'probe_ts', cums) }},

{{ name }}__counts as (
    select
        {{ key_columns }}
        {%- for column, (measure, window) in counts.items() %},
        coalesce(max(case when bound = 'now' then cum_{{ measure }} end), 0)
        {%- if window != 'all' %} - coalesce(max(case when bound = '{{ window }}' then cum_{{ measure }} end), 0){% endif %} as {{ column }}
        {%- endfor %}
    from {{ name }}__probed
    group by {{ key_columns }}
),

{{ name }} as (
    select points.*{% for column in counts %}, counts.{{ column }}{% endfor %}
    from {{ points }} as points
    left join {{ name }}__counts as counts
        on {% for k in keys %}points.{{ k }} is not distinct from counts.{{ k }} and {% endfor %}points.point_ts = counts.point_ts
)
{%- endmacro %}
