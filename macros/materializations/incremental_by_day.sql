{#- incremental_by_day: a table built a batch of days at a time, for models whose rows of a
    day depend only on what happened before that day ends (the point-in-time features).

    config:
      day_column     the model's date column that batches are cut on
      days_from      the model (its name) whose rows are counted per day_column to plan the
                     batches: the model's own rows per day, before any computation
      batch_rows     most rows of days_from per batch (a day is never split)
      lookback_days  an incremental run rebuilds every day from the table's last day minus
                     this many days: the last day may have been partial
      landed_events  optional, {model name: its event-time column}: the events the rows
                     depend on. With it the model outputs landed_at (when its row's own
                     event landed) and an incremental run also rebuilds every day from the
                     earliest event of these models that landed at or after the table's
                     latest landed_at: a log that lands late changes the days after it

    The model restricts its rows to the batch with day_batch(column) (below). A full refresh
    (or a first run) builds every day into a new table and swaps it in; an incremental run
    deletes the days from the last day minus lookback_days (or the earliest late event's
    day) on and builds them again, in one transaction. Batches keep each query's joins to a
    day's rows: as one query over the large world's 51M impressions the features spilled
    past the disk (docs/benchmarks.md). -#}
{% materialization incremental_by_day, adapter='duckdb' %}
  {%- set day_column = config.require('day_column') -%}
  {%- set days_from = ref(config.require('days_from')) -%}
  {%- set batch_rows = config.get('batch_rows', 2000000) | int -%}
  {%- set lookback_days = config.get('lookback_days', 1) | int -%}

  {%- set existing = load_cached_relation(this) -%}
  {%- set target = this.incorporate(type='table') -%}
  {%- set full_refresh = existing is none or should_full_refresh() -%}
  {%- set build = make_intermediate_relation(target) if full_refresh else target -%}
  {%- set backup = make_backup_relation(target, 'table') -%}
  {{ drop_relation_if_exists(load_cached_relation(backup)) }}
  {% if full_refresh %}{{ drop_relation_if_exists(load_cached_relation(build)) }}{% endif %}

  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  {{ run_hooks(pre_hooks, inside_transaction=True) }}

  {%- set since = none -%}
  {%- if not full_refresh -%}
    {%- set new_columns = get_columns_in_query(sql) | map('lower') | list -%}
    {%- set old_columns = adapter.get_columns_in_relation(target) | map(attribute='name') | map('lower') | list -%}
    {%- if new_columns != old_columns -%}
      {{ exceptions.raise_compiler_error(
          this ~ ': the model\'s columns ' ~ new_columns ~ ' differ from the table\'s ' ~ old_columns
          ~ '; rebuild it with dbt build --full-refresh --select ' ~ model.name) }}
    {%- endif -%}
    {%- set since = run_query(rebuild_since_sql(target, day_column, lookback_days, config.get('landed_events'))).columns[0].values()[0] -%}
  {%- endif -%}

  {%- set batches = day_batches(days_from, day_column, since, batch_rows) -%}
  {{ log(model.name ~ ': ' ~ batches | length ~ ' batch(es) of days'
         ~ (' from ' ~ since if since is not none else ''), info=true) }}

  {%- if not full_refresh -%}
    {#- named main: with no day to rebuild, it is the run's only statement -#}
    {% call statement('main') -%}
      delete from {{ target }} where {{ day_column }} >= {{ "date '" ~ since ~ "'" if since is not none else 'null' }}
    {%- endcall %}
  {%- endif -%}

  {#- A first run over an empty source still creates the (empty) table: one unbounded batch. -#}
  {%- for first_day, last_day in (batches if batches or not full_refresh else [(none, none)]) -%}
    {%- if batches -%}
      {{ log(model.name ~ ': batch ' ~ loop.index ~ ' of ' ~ loop.length ~ ', days ' ~ first_day ~ ' to ' ~ last_day, info=true) }}
    {%- endif -%}
    {%- do run_query(set_day_batch(first_day, last_day)) -%}
    {% call statement('main') -%}
      {%- if full_refresh and loop.first -%}
        {{ get_create_table_as_sql(False, build, sql) }}
      {%- else -%}
        insert into {{ build }} by name select * from ({{ sql }})
      {%- endif -%}
    {%- endcall %}
  {%- endfor -%}
  {%- do run_query(set_day_batch(none, none)) -%}

  {%- if full_refresh and existing is not none -%}
    {{ adapter.rename_relation(existing, backup) }}
  {%- endif -%}
  {%- if full_refresh -%}
    {{ adapter.rename_relation(build, target) }}
  {%- endif -%}

  {{ run_hooks(post_hooks, inside_transaction=True) }}
  {% do persist_docs(target, model) %}
  {{ adapter.commit() }}
  {{ drop_relation_if_exists(backup) }}
  {{ run_hooks(post_hooks, inside_transaction=False) }}
  {{ return({'relations': [target]}) }}
{% endmaterialization %}


{#- The first day an incremental run rebuilds: the table's last day minus lookback_days, or
    the day of the earliest event of `landed_events` ({model: event-time column}) that
    landed at or after the table's latest landed_at, whichever is earlier. -#}
{% macro rebuild_since_sql(target, day_column, lookback_days, landed_events) -%}
    select least(
        (select max({{ day_column }}) - {{ lookback_days }} from {{ target }})
        {%- for name, ts in (landed_events or {}).items() %},
        (select cast(min({{ ts }}) as date) from {{ ref(name) }}
         where landed_at >= (select max(landed_at) from {{ target }}))
        {%- endfor %}
    )
{%- endmacro %}


{#- The batches [(first_day, last_day)] of the days of `relation` on or after `since` (all
    days if none), in order, each holding at most batch_rows rows unless one day alone holds
    more. -#}
{% macro day_batches(relation, day_column, since, batch_rows) -%}
  {%- set counts = run_query(
      'select ' ~ day_column ~ ' as day, count(*) as n from ' ~ relation
      ~ ' where ' ~ day_column ~ ' is not null'
      ~ (" and " ~ day_column ~ " >= date '" ~ since ~ "'" if since is not none else '')
      ~ ' group by 1 order by 1') -%}
  {%- set batches = [] -%}
  {%- set current = {'first': none, 'last': none, 'rows': 0} -%}
  {%- for row in counts.rows -%}
    {%- if current.first is not none and current.rows + row[1] > batch_rows -%}
      {%- do batches.append((current.first, current.last)) -%}
      {%- do current.update({'first': none, 'rows': 0}) -%}
    {%- endif -%}
    {%- if current.first is none %}{% do current.update({'first': row[0]}) %}{% endif -%}
    {%- do current.update({'last': row[0], 'rows': current.rows + row[1]}) -%}
  {%- endfor -%}
  {%- if current.first is not none %}{% do batches.append((current.first, current.last)) %}{% endif -%}
  {{ return(batches) }}
{%- endmacro %}


{#- The batch's bounds live in two DuckDB session variables, set by the materialization
    before each batch's query and reset after the last (null: no bound). Engine-specific,
    so dispatched like macros/cross_db/; only DuckDB has the materialization yet. -#}
{% macro set_day_batch(first_day, last_day) -%}
  {{ return(adapter.dispatch('set_day_batch', 'receval')(first_day, last_day)) }}
{%- endmacro %}

{% macro default__set_day_batch(first_day, last_day) -%}
  {{ exceptions.raise_compiler_error('incremental_by_day day batches are implemented for DuckDB only') }}
{%- endmacro %}

{% macro duckdb__set_day_batch(first_day, last_day) -%}
  {%- for name, day in [('first', first_day), ('last', last_day)] -%}
    set variable receval_batch_{{ name }}_day = {{ "date '" ~ day ~ "'" if day is not none else 'null::date' }};
  {% endfor -%}
{%- endmacro %}


{#- In a model built by incremental_by_day: `column` (a date) lies in the batch being built,
    widened by `days_before` days before its first day. Outside a batch (a plain compile,
    dbt show, a unit test) the variables are unset and every day passes. -#}
{% macro day_batch(column, days_before=0) -%}
  {{ return(adapter.dispatch('day_batch', 'receval')(column, days_before)) }}
{%- endmacro %}

{#- Raised when the model runs, not when the project is parsed: another engine can still
    build every other model. -#}
{% macro default__day_batch(column, days_before) -%}
  {%- if execute -%}
    {{ exceptions.raise_compiler_error('incremental_by_day day batches are implemented for DuckDB only') }}
  {%- endif -%}
{%- endmacro %}

{% macro duckdb__day_batch(column, days_before) -%}
  {{ column }} between coalesce(cast(getvariable('receval_batch_first_day') as date) - {{ days_before }}, date '0001-01-01')
      and coalesce(cast(getvariable('receval_batch_last_day') as date), date '9999-12-31')
{%- endmacro %}
