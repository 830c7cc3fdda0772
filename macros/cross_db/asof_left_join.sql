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

{#- Spark has no ASOF join: a range join ranked per left row (a generated row id). -#}
{% macro spark__asof_left_join(left_relation, right_relation, by, left_ts, right_ts, right_columns, strict, right_prefix) -%}
  select * except (_asof_rank, _asof_row_id) from (
    select l.*{% for c in right_columns %}, r.{{ c }} as {{ right_prefix }}{{ c }}{% endfor %},
      row_number() over (
        partition by l._asof_row_id order by r.{{ right_ts }} desc nulls last
      ) as _asof_rank
    from (select *, monotonically_increasing_id() as _asof_row_id from {{ left_relation }}) as l
    left join {{ right_relation }} as r
      on {% for b in by %}l.{{ b }} = r.{{ b }} and {% endfor %}l.{{ left_ts }} {{ '>' if strict else '>=' }} r.{{ right_ts }}
  ) where _asof_rank = 1
{%- endmacro %}
