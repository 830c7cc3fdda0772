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
    day) on and builds them again (in one transaction on DuckDB; on Spark the table is
    partitioned by day_column and those days' partitions are dropped). Batches keep each
    query's joins to a day's rows: as one query over the large world's 51M impressions the
    features spilled past the disk (docs/benchmarks.md). The engine's part is dispatched
    (below): the batch bounds, the day-partitioned table, the deletion of days. -#}
{% materialization incremental_by_day, default %}
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
    {#- compared as sets: batches are inserted by name, and Spark keeps a partition column last -#}
    {%- set new_columns = get_columns_in_query(sql) | map('lower') | sort | list -%}
    {%- set old_columns = adapter.get_columns_in_relation(target) | map(attribute='name') | map('lower') | sort | list -%}
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
    {%- do delete_days_from(target, day_column, since) -%}
  {%- endif -%}

  {#- A first run over an empty source still creates the (empty) table: one unbounded batch. -#}
  {%- for first_day, last_day in (batches if batches or not full_refresh else [(none, none)]) -%}
    {%- if batches -%}
      {{ log(model.name ~ ': batch ' ~ loop.index ~ ' of ' ~ loop.length ~ ', days ' ~ first_day ~ ' to ' ~ last_day, info=true) }}
    {%- endif -%}
    {%- set batch_sql = bind_day_batch(sql, first_day, last_day) -%}
    {% call statement('main') -%}
      {%- if full_refresh and loop.first -%}
        {{ create_day_table(build, day_column, batch_sql) }}
      {%- else -%}
        insert into {{ build }} by name select * from ({{ batch_sql }})
      {%- endif -%}
    {%- endcall %}
  {%- endfor -%}
  {%- do bind_day_batch(sql, none, none) -%}

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


{#- The model's SQL for the batch of days [first_day, last_day] (none: no bound), from
    what day_batch wrote into it. On DuckDB the bounds live in two session variables, set
    here before each batch and reset after the last; on Spark (whose session variables a
    unit test or dbt show would find undeclared) they are written into the SQL in place
    of day_batch's open bounds. -#}
{% macro bind_day_batch(sql, first_day, last_day) -%}
  {{ return(adapter.dispatch('bind_day_batch', 'receval')(sql, first_day, last_day)) }}
{%- endmacro %}

{% macro default__bind_day_batch(sql, first_day, last_day) -%}
  {{ exceptions.raise_compiler_error('incremental_by_day day batches are implemented for DuckDB and Spark only') }}
{%- endmacro %}

{% macro duckdb__bind_day_batch(sql, first_day, last_day) -%}
  {%- for name, day in [('first', first_day), ('last', last_day)] -%}
    {%- do run_query('set variable receval_batch_' ~ name ~ '_day = '
                     ~ ("date '" ~ day ~ "'" if day is not none else 'null::date')) -%}
  {%- endfor -%}
  {{ return(sql) }}
{%- endmacro %}

{% macro spark__bind_day_batch(sql, first_day, last_day) -%}
  {%- set bound = {'sql': sql} -%}
  {%- for name, day in [('first', first_day), ('last', last_day)] if day is not none -%}
    {%- do bound.update({'sql': bound.sql.replace(spark_open_bound(name), "date '" ~ day ~ "'")}) -%}
  {%- endfor -%}
  {{ return(bound.sql) }}
{%- endmacro %}

{#- day_batch's bound on Spark before the materialization fills it in: every day passes. -#}
{% macro spark_open_bound(name) -%}
  {{ return(("date '1000-01-01'" if name == 'first' else "date '9999-12-31'") ~ ' /* receval_batch_' ~ name ~ '_day */') }}
{%- endmacro %}


{#- In a model built by incremental_by_day: `column` (a date) lies in the batch being built,
    widened by `days_before` days before its first day. Outside a batch (a plain compile,
    dbt show, a unit test) every day passes. -#}
{% macro day_batch(column, days_before=0) -%}
  {{ return(adapter.dispatch('day_batch', 'receval')(column, days_before)) }}
{%- endmacro %}

{#- Raised when the model runs, not when the project is parsed: another engine can still
    build every other model. -#}
{% macro default__day_batch(column, days_before) -%}
  {%- if execute -%}
    {{ exceptions.raise_compiler_error('incremental_by_day day batches are implemented for DuckDB and Spark only') }}
  {%- endif -%}
{%- endmacro %}

{% macro duckdb__day_batch(column, days_before) -%}
  {{ column }} between coalesce(cast(getvariable('receval_batch_first_day') as date) - {{ days_before }}, date '0001-01-01')
      and coalesce(cast(getvariable('receval_batch_last_day') as date), date '9999-12-31')
{%- endmacro %}

{% macro spark__day_batch(column, days_before) -%}
  {{ column }} between {{ spark_open_bound('first') }} - {{ days_before }} and {{ spark_open_bound('last') }}
{%- endmacro %}


{#- The table of the first batch, partitioned by day on Spark (whose Parquet tables delete
    by partition only). -#}
{% macro create_day_table(relation, day_column, sql) -%}
  {{ return(adapter.dispatch('create_day_table', 'receval')(relation, day_column, sql)) }}
{%- endmacro %}

{% macro default__create_day_table(relation, day_column, sql) -%}
  {{ get_create_table_as_sql(False, relation, sql) }}
{%- endmacro %}

{% macro spark__create_day_table(relation, day_column, sql) -%}
  create table {{ relation }} using {{ config.get('file_format', 'parquet') }}
  partitioned by ({{ day_column }}) as {{ sql }}
{%- endmacro %}


{#- Delete the rows of `since` and every later day (none: nothing) from the table, as the
    run's main statement: with no day to rebuild, it is the only one. -#}
{% macro delete_days_from(relation, day_column, since) -%}
  {{ return(adapter.dispatch('delete_days_from', 'receval')(relation, day_column, since)) }}
{%- endmacro %}

{% macro default__delete_days_from(relation, day_column, since) -%}
  {% call statement('main') -%}
    delete from {{ relation }} where {{ day_column }} >= {{ "date '" ~ since ~ "'" if since is not none else 'null' }}
  {%- endcall %}
{%- endmacro %}

{#- Spark cannot drop partitions by a comparison: each day's partition on its own. -#}
{% macro spark__delete_days_from(relation, day_column, since) -%}
  {%- set days = [] -%}
  {%- if since is not none -%}
    {%- for row in run_query('show partitions ' ~ relation) -%}
      {%- set day = row[0].split('=')[1] -%}
      {%- if day >= since | string %}{% do days.append(day) %}{% endif -%}
    {%- endfor -%}
  {%- endif -%}
  {% call statement('main') -%}
    {%- if days -%}
      alter table {{ relation }} drop if exists
      {% for day in days %}partition ({{ day_column }} = '{{ day }}'){{ ', ' if not loop.last }}{% endfor %}
    {%- else -%}
      select 0 as dropped_partitions
    {%- endif -%}
  {%- endcall %}
{%- endmacro %}
