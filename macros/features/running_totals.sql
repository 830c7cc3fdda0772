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


{#- Emits CTEs ending in `name`: the columns of `points` (the keys and point_ts, and any
    others) plus one count per entry of `counts`, column name -> [measure, window]: the
    number of the key's events of the measure in [point_ts - window, point_ts), window a
    name of feature_windows() or 'all' (every event strictly before point_ts). `stream` is
    a pit_cumulative_stream on `keys`.
    The ASOF joins run on the distinct (keys, point_ts) alone and the counts are joined back
    to the points: an ASOF join materialises and sorts its whole left side, so carrying the
    points' other columns through a chain of them made the chain spill tens of GB on the
    large world, where the narrow chain spills a few. -#}
{% macro pit_window_counts(name, points, stream, keys, counts) -%}
  {%- set lengths = feature_windows() -%}
  {%- set measures = [] -%}
  {%- set windows = {} -%}
  {%- for measure, window in counts.values() -%}
    {%- if measure not in measures %}{% do measures.append(measure) %}{% endif -%}
    {%- if window != 'all' -%}
      {%- do windows.setdefault(window, []) -%}
      {%- if 'cum_' ~ measure not in windows[window] %}{% do windows[window].append('cum_' ~ measure) %}{% endif -%}
    {%- endif -%}
  {%- endfor -%}
  {%- set cums = [] -%}
  {%- for m in measures %}{% do cums.append('cum_' ~ m) %}{% endfor -%}
  {%- set key_columns -%}{% for k in keys %}{{ k }}, {% endfor %}point_ts{%- endset -%}
{{ name }}__keys as (
    select distinct
        {{ key_columns }}{% for w in windows %},
        {{ dbt.dateadd(lengths[w][0], -1 * lengths[w][1], 'point_ts') }} as from_{{ w }}
        {%- endfor %}
    from {{ points }}
),

{{ name }}__now as (
    {{ asof_left_join(name ~ '__keys', stream, keys, 'point_ts', 'ts', cums, strict=true, right_prefix='at_now_') }}
),
{%- for w in windows %}
{%- set previous = name ~ ('__now' if loop.first else '__' ~ loop.previtem) %}

{{ name }}__{{ w }} as (
    {{ asof_left_join(previous, stream, keys, 'from_' ~ w, 'ts', windows[w], strict=true, right_prefix='at_' ~ w ~ '_') }}
),
{%- endfor %}

{{ name }}__counts as (
    select
        {{ key_columns }}
        {%- for column, (measure, window) in counts.items() %},
        coalesce(at_now_cum_{{ measure }}, 0)
        {%- if window != 'all' %} - coalesce(at_{{ window }}_cum_{{ measure }}, 0){% endif %} as {{ column }}
        {%- endfor %}
    from {{ name }}__{{ (windows | list)[-1] if windows else 'now' }}
),

{{ name }} as (
    select points.*{% for column in counts %}, counts.{{ column }}{% endfor %}
    from {{ points }} as points
    left join {{ name }}__counts as counts
        on {% for k in keys %}points.{{ k }} is not distinct from counts.{{ k }} and {% endfor %}points.point_ts = counts.point_ts
)
{%- endmacro %}
