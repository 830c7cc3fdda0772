{#- The latest row of `right_relation` at or before each left row, matched on `by` columns
    (`by` may be empty: the latest row of the whole relation). The caller guarantees at
    most one right row per (by..., right_ts), so "latest" is unambiguous on every engine.
    Left columns keep their names; right columns are selected as `<right_prefix><name>`
    (default `r_<name>`).
    strict=true matches the latest right row strictly before the left row instead
    (right_ts < left_ts): what point-in-time features need, where an event at the very
    moment of the point is not yet known. -#}
{% macro asof_left_join(left_relation, right_relation, by, left_ts, right_ts, right_columns, strict=false, right_prefix='r_') -%}
  {{ return(adapter.dispatch('asof_left_join', 'receval')(left_relation, right_relation, by, left_ts, right_ts, right_columns, strict, right_prefix)) }}
{%- endmacro %}

{#- Portable: the matching right row that no other matching right row comes after. -#}
{% macro default__asof_left_join(left_relation, right_relation, by, left_ts, right_ts, right_columns, strict, right_prefix) -%}
  {%- set after = '>' if strict else '>=' -%}
  select l.*{% for c in right_columns %}, r.{{ c }} as {{ right_prefix }}{{ c }}{% endfor %}
  from {{ left_relation }} as l
  left join {{ right_relation }} as r
    on {% for b in by %}l.{{ b }} = r.{{ b }} and {% endfor %}l.{{ left_ts }} {{ after }} r.{{ right_ts }}
    and not exists (
      select 1 from {{ right_relation }} as later
      where {% for b in by %}later.{{ b }} = r.{{ b }} and {% endfor %}later.{{ right_ts }} > r.{{ right_ts }}
        and l.{{ left_ts }} {{ after }} later.{{ right_ts }}
    )
{%- endmacro %}

{#- DuckDB's native ASOF JOIN. -#}
{% macro duckdb__asof_left_join(left_relation, right_relation, by, left_ts, right_ts, right_columns, strict, right_prefix) -%}
  select l.*{% for c in right_columns %}, r.{{ c }} as {{ right_prefix }}{{ c }}{% endfor %}
  from {{ left_relation }} as l
  asof left join {{ right_relation }} as r
    on {% for b in by %}l.{{ b }} = r.{{ b }} and {% endfor %}l.{{ left_ts }} {{ '>' if strict else '>=' }} r.{{ right_ts }}
{%- endmacro %}

{#- Spark has no ASOF join, and a range join ranked per left row grows with the square of a
    key's rows (the global stream's points x events). Instead the left and the right rows are
    sorted together per key, each row packed into a struct of its side, and every left row
    carries the last right row before it (left rows carry none; nulls are skipped): one sort,
    each relation read once. At equal times the left rows sort first when strict. -#}
{% macro spark__asof_left_join(left_relation, right_relation, by, left_ts, right_ts, right_columns, strict, right_prefix) -%}
  {%- set left_side, right_side = (0, 1) if strict else (1, 0) -%}
  select _asof_left.*{% for c in right_columns %}, _asof_right.{{ c }} as {{ right_prefix }}{{ c }}{% endfor %}
  from (
    select _asof_side, _asof_left,
      last(_asof_right, true) over (
        {% if by %}partition by {{ by | join(', ') }} {% endif %}order by _asof_ts, _asof_side
        rows between unbounded preceding and current row
      ) as _asof_right
    from (
      select {% for b in by %}{{ b }}, {% endfor %}{{ left_ts }} as _asof_ts, {{ left_side }} as _asof_side,
        struct(*) as _asof_left, null as _asof_right
      from {{ left_relation }}
      union all
      select {% for b in by %}{{ b }}, {% endfor %}{{ right_ts }}, {{ right_side }}, null, struct({{ right_columns | join(', ') }})
      from {{ right_relation }}
      where {{ right_ts }} is not null   -- a null time would sort first: before every left row
    ) as timeline
  ) as carried
  where _asof_side = {{ left_side }}
{%- endmacro %}
