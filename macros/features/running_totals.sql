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


{#- Emits CTEs ending in `name`: the columns of `points` (the keys and point_ts) plus one
    count per entry of `counts`, column name -> [measure, window]: the number of the key's
    events of the measure in [point_ts - window, point_ts), window a name of
    feature_windows() or 'all' (every event strictly before point_ts). `stream` is a
    pit_cumulative_stream on `keys`. The ASOF joins add internal columns
    (_<name>_...). -#}
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
        {%- for column, (measure, window) in counts.items() %},
        coalesce(_{{ name }}_now_cum_{{ measure }}, 0)
        {%- if window != 'all' %} - coalesce(_{{ name }}_{{ window }}_cum_{{ measure }}, 0){% endif %}
            as {{ column }}
        {%- endfor %}
    from {{ name }}__{{ windows[-1] if windows else 'now' }}
)
{%- endmacro %}
