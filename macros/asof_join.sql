{#- The latest row of `right_relation` at or before each left row, matched on `by` columns.
    DuckDB has a native ASOF JOIN; engines without one (Spark) rank the candidates with a
    window. The caller guarantees at most one right row per (by..., right_ts), so "latest"
    is unambiguous on every engine. Left columns keep their names; right columns are
    selected as `r_<name>`. -#}
{% macro asof_left_join(left_relation, right_relation, by, left_ts, right_ts, right_columns) -%}
  {{ return(adapter.dispatch('asof_left_join', 'receval')(left_relation, right_relation, by, left_ts, right_ts, right_columns)) }}
{%- endmacro %}

{% macro duckdb__asof_left_join(left_relation, right_relation, by, left_ts, right_ts, right_columns) -%}
  select l.*{% for c in right_columns %}, r.{{ c }} as r_{{ c }}{% endfor %}
  from {{ left_relation }} as l
  asof left join {{ right_relation }} as r
    on {% for b in by %}l.{{ b }} = r.{{ b }} and {% endfor %}l.{{ left_ts }} >= r.{{ right_ts }}
{%- endmacro %}

{% macro default__asof_left_join(left_relation, right_relation, by, left_ts, right_ts, right_columns) -%}
  select * except (_asof_rank, _asof_row_id) from (
    select l.*{% for c in right_columns %}, r.{{ c }} as r_{{ c }}{% endfor %},
      row_number() over (
        partition by l._asof_row_id order by r.{{ right_ts }} desc nulls last
      ) as _asof_rank
    from (select *, monotonically_increasing_id() as _asof_row_id from {{ left_relation }}) as l
    left join {{ right_relation }} as r
      on {% for b in by %}l.{{ b }} = r.{{ b }} and {% endfor %}l.{{ left_ts }} >= r.{{ right_ts }}
  ) where _asof_rank = 1
{%- endmacro %}
