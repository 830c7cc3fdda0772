{#- The shared mechanics of the landing zone, generated per entity from the contract:
    - landing_base_model: type and validate every raw row (one reject reason per row, the
      first match in var('landing_reject_reasons') order). A view on DuckDB: a scan of
      Parquet is cheap, materialising every raw row is not (a table on Spark: dbt_project.yml).
    - landing_duplicates_model: every valid copy of an event_id delivered more than once,
      ranked by delivery (earliest wins). A table, and a small one: only the redelivered
      events are sorted, not the whole log.
    - landing_kept_rows: the staging rows: valid, and the first delivery of each event. -#}

{% macro landing_contract_columns(entity) -%}
  {#- The contract's columns for an entity, in order, from the source yml (which
      tests/python/test_contract.py keeps equal to contract.py). Read from the graph
      because the SQL is generated at compile time, before any seed is loaded; unit tests get
      no graph and override this macro. -#}
  {%- if not execute -%}{{ return([]) }}{%- endif -%}
  {%- set node = graph.sources['source.' ~ project_name ~ '.landing.' ~ entity] -%}
  {%- set columns = [] -%}
  {%- for column in node.columns.values() -%}
    {%- do columns.append({
        'name': column.name,
        'data_type': column.data_type,
        'is_key': (column.config.meta or column.meta or {}).get('key', false),
    }) -%}
  {%- endfor -%}
  {{ return(columns) }}
{%- endmacro %}


{% macro landing_reject_conditions(entity, names) -%}
  {#- reason -> SQL condition on the typed row, only for the reasons that apply to the
      entity. Dimensions cannot reference unknown users or items. -#}
  {%- set is_fact = entity not in ('users', 'items') -%}
  {%- set keys = landing_contract_columns(entity) | selectattr('is_key') | map(attribute='name') | list -%}
  {%- set null_checks = [] -%}
  {%- for key in keys -%}{%- do null_checks.append('typed.' ~ key ~ ' is null') -%}{%- endfor -%}
  {%- set non_finite_checks = [] -%}
  {%- for column in landing_contract_columns(entity) if column.data_type | lower == 'double' -%}
    {%- do non_finite_checks.append(is_non_finite('typed.' ~ column.name)) -%}
  {%- endfor -%}
  {%- set conditions = {
      'schema_mismatch': 'mismatched_files.source_file is not null',
      'null_key': null_checks | join(' or '),
      'future_timestamp': 'typed.ts > ' ~ dbt.dateadd('minute', 60 + var('clock_skew_tolerance_minutes') | int, 'typed.landed_at'),
  } -%}
  {%- if non_finite_checks -%}
    {%- do conditions.update({'non_finite_number': non_finite_checks | join(' or ')}) -%}
  {%- endif -%}
  {%- if 'propensity' in names -%}
    {%- do conditions.update({'invalid_propensity': 'typed.propensity is not null and not (typed.propensity > 0 and typed.propensity <= 1)'}) -%}
  {%- endif -%}
  {%- if 'position' in names -%}
    {%- do conditions.update({'invalid_position': 'typed.position < 1'}) -%}
  {%- endif -%}
  {%- if 'revenue' in names -%}
    {%- do conditions.update({'negative_revenue': 'typed.revenue < 0'}) -%}
  {%- endif -%}
  {#- Only against a dimension the landing zone holds: without users (items) events, the
      dimension is derived from the ids the facts carry and no id is unknown. -#}
  {%- if is_fact and 'user_id' in names -%}
    {%- do conditions.update({'unknown_user': 'valid_users.user_id is null and exists (select 1 from valid_users)'}) -%}
  {%- endif -%}
  {%- if is_fact and 'item_id' in names -%}
    {#- item_id is optional where it is not a key (user-level served features). -#}
    {%- do conditions.update({'unknown_item': 'typed.item_id is not null and valid_items.item_id is null and exists (select 1 from valid_items)'}) -%}
  {%- endif -%}
  {{ return(conditions) }}
{%- endmacro %}


{% macro landing_base_model(entity) -%}
{%- set columns = landing_contract_columns(entity) -%}
{%- set names = columns | map(attribute='name') | list -%}
{%- set in_files = landing_file_column_names(entity) -%}
{%- set conditions = landing_reject_conditions(entity, names) -%}
{%- set reasons = var('landing_reject_reasons') -%}
-- the columns the files carry are looked up in {{ ref('base_landing__file_columns') }}

with source as (

    select * from {{ landing_relation(entity) }}

),

mismatched_files as (

    select source_file
    from {{ ref('base_landing__files') }}
    where entity = '{{ entity }}' and has_schema_mismatch

),
{%- if 'unknown_user' in conditions %}

valid_users as (

    select distinct user_id from {{ ref('base_landing__users') }} where reject_reason is null

),
{%- endif %}
{%- if 'unknown_item' in conditions %}

valid_items as (

    select distinct item_id from {{ ref('base_landing__items') }} where reject_reason is null

),
{%- endif %}

typed as (

    select
        {#- a column no file carries (an optional one: base_landing__files) is null -#}
        {%- for column in columns %}
        {%- if column.name in in_files %}
        {{ try_cast(column.name, engine_type(column.data_type)) }} as {{ column.name }},
        {%- else %}
        {{ dbt.cast('null', engine_type(column.data_type)) }} as {{ column.name }},
        {%- endif %}
        {%- endfor %}
        {%- for column in columns %}
        {{ column.name if column.name in in_files else dbt.cast('null', engine_type(column.data_type)) }} as raw__{{ column.name }},
        {%- endfor %}
        {{ dbt.dateadd('hour', 'hour', dbt.cast('date', 'timestamp')) }} as landed_at,
        filename as source_file,
        file_row_number
    from source

),

validated as (

    select
        typed.*,
        case
            {%- for reason in reasons if reason in conditions %}
            when {{ conditions[reason] }} then '{{ reason }}'
            {%- endfor %}
        end as reject_reason
    from typed
    left join mismatched_files on typed.source_file = mismatched_files.source_file
    {%- if 'unknown_user' in conditions %}
    left join valid_users on typed.user_id = valid_users.user_id
    {%- endif %}
    {%- if 'unknown_item' in conditions %}
    left join valid_items on typed.item_id = valid_items.item_id
    {%- endif %}

)

select
    {%- for name in names %}
    {{ name }},
    {%- endfor %}
    landed_at,
    source_file,
    file_row_number,
    reject_reason,
    -- the row as it landed, kept only where it is rejected
    case when reject_reason is not null then
        {{ row_to_json(names, prefix='raw__') }}
    end as payload
from validated

{%- endmacro %}


{% macro landing_file_column_names(entity) -%}
  {#- The columns at least one of the entity's landing files carries (the reader's union by
      name has no other); every contract column while parsing. -#}
  {%- if not execute or landing_is_absent(entity) -%}
    {{ return(landing_contract_columns(entity) | map(attribute='name') | list) }}
  {%- endif -%}
  {%- set found = run_query("select distinct column_name from " ~ ref('base_landing__file_columns')
                            ~ " where entity = '" ~ entity ~ "'") -%}
  {{ return(found.columns[0].values() | list) }}
{%- endmacro %}


{% macro landing_duplicates_model(entity) -%}
{%- set names = landing_contract_columns(entity) | map(attribute='name') | list -%}
{%- set base = ref('base_landing__' ~ entity) -%}
{%- set qualified = [] -%}
{%- for name in names %}{% do qualified.append('base.' ~ name) %}{% endfor -%}

with redelivered as (

    select event_id
    from {{ base }}
    where reject_reason is null
    group by event_id
    having count(*) > 1

),

copies as (

    select
        base.*,
        files.file_ordinal,
        {{ row_hash(qualified) }} as payload_hash
    from {{ base }} as base
    inner join redelivered on base.event_id = redelivered.event_id
    inner join {{ ref('base_landing__files') }} as files
        on files.entity = '{{ entity }}' and base.source_file = files.source_file
    where base.reject_reason is null

),

ranked as (

    select
        *,
        row_number() over delivery as delivery_rank,
        first_value(payload_hash) over delivery as kept_payload_hash
    from copies
    -- earliest delivery (file in delivery order, then row in the file) first: stable as
    -- later partitions land
    window delivery as (partition by event_id order by file_ordinal, file_row_number)

)

select
    {%- for name in names %}
    {{ name }},
    {%- endfor %}
    landed_at,
    source_file,
    file_row_number,
    delivery_rank,
    delivery_rank > 1 and payload_hash <> kept_payload_hash as is_conflicting_duplicate
from ranked

{%- endmacro %}


{% macro landing_kept_rows(entity) -%}
  {#- Valid rows of events delivered once, plus the first delivery of redelivered ones. -#}
  {%- set columns = (landing_contract_columns(entity) | map(attribute='name') | list)
                    + ['landed_at', 'source_file'] -%}
    select {{ columns | join(', ') }}
    from {{ ref('base_landing__' ~ entity) }}
    where reject_reason is null
      -- an anti-join against the few redelivered events, not a sort of the whole log
      and event_id not in (select event_id from {{ ref('base_landing__' ~ entity ~ '_duplicates') }})
    union all
    select {{ columns | join(', ') }}
    from {{ ref('base_landing__' ~ entity ~ '_duplicates') }}
    where delivery_rank = 1
{%- endmacro %}


{% macro landing_entities() -%}
  {#- The tables of the `landing` source. A literal, because models that union over them must
      register their refs at parse time, when the graph is not there yet; checked against
      the graph when the models run. -#}
  {%- set entities = ['requests', 'impressions', 'clicks', 'conversions', 'assignments',
                      'served_features', 'shadow_scores', 'candidates', 'items', 'users'] -%}
  {%- if execute -%}
    {%- set declared = graph.sources.values() | selectattr('source_name', 'equalto', 'landing')
                       | map(attribute='name') | list -%}
    {%- if declared | sort != entities | sort -%}
      {{ exceptions.raise_compiler_error("landing_entities() " ~ entities ~ " differs from the landing source's tables " ~ declared) }}
    {%- endif -%}
  {%- endif -%}
  {{ return(entities) }}
{%- endmacro %}


{% macro landing_relation(entity) -%}
  {#- What to read an entity's raw rows from: the `landing` source, or for an absent
      entity (landing_is_absent) an empty relation with the reader's columns, so the build
      goes on with no rows of it. -#}
  {%- if landing_is_absent(entity) -%}
    {%- set columns = [] -%}
    {%- for column in landing_contract_columns(entity) -%}
      {%- do columns.append(dbt.cast('null', engine_type(column.data_type)) ~ ' as ' ~ column.name) -%}
    {%- endfor -%}
    {{ return('(select ' ~ (columns | join(', ')) ~ ', ' ~ dbt.cast('null', 'date') ~ ' as date, '
              ~ dbt.cast('null', 'integer') ~ ' as hour, ' ~ dbt.cast('null', dbt.type_string()) ~ ' as filename, '
              ~ dbt.cast('null', dbt.type_bigint()) ~ ' as file_row_number where 1 = 0)') }}
  {%- endif -%}
  {{ return(landing_reader(entity)) }}
{%- endmacro %}


{% macro landing_reader(entity) -%}
  {{ return(adapter.dispatch('landing_reader', 'receval')(entity)) }}
{%- endmacro %}

{% macro default__landing_reader(entity) -%}
  {#- the `landing` source: dbt-duckdb reads its external_location -#}
  {{ return(source('landing', entity)) }}
{%- endmacro %}


{% macro landing_is_required(entity) -%}
  {#- impressions and clicks: the source marks them `meta.required` (contract.REQUIRED_ENTITIES). -#}
  {%- set node = (graph.get('sources') or {}).get('source.' ~ project_name ~ '.landing.' ~ entity) if execute else none -%}
  {{ return(node is not none and (node.config.meta or node.meta or {}).get('required', false)) }}
{%- endmacro %}


{% macro landing_is_absent(entity) -%}
  {#- True for an entity the contract does not require whose folder holds no file. A
      required entity without files is never absent: it fails in the reader with an error
      naming its path. Unit tests get no graph (they mock the source) and parsing has no
      files: both see it present. -#}
  {%- if not execute or (graph.get('sources') or {}) == {} or landing_is_required(entity) -%}
    {{ return(false) }}
  {%- endif -%}
  {{ return(not landing_has_files(entity)) }}
{%- endmacro %}


{% macro landing_has_files(entity) -%}
  {{ return(adapter.dispatch('landing_has_files', 'receval')(entity)) }}
{%- endmacro %}

{% macro duckdb__landing_has_files(entity) -%}
  {%- set found = run_query("select count(*) from glob('" ~ var('raw_path') ~ "/" ~ entity
                            ~ "/date=*/hour=*/*.parquet')") -%}
  {{ return(found.columns[0].values()[0] > 0) }}
{%- endmacro %}

{% macro spark__landing_has_files(entity) -%}
  {#- From the listing base_landing__file_columns made (Spark cannot list a folder that may
      not exist; that model lists every entity at once). Found through the graph, not ref():
      the on-run-end notices ask too. Not built yet: assume the files are there. -#}
  {%- set node = graph.nodes.get('model.' ~ project_name ~ '.base_landing__file_columns') -%}
  {%- set listing = adapter.get_relation(database=node.database, schema=node.schema, identifier=node.alias) -%}
  {%- if listing is none %}{{ return(true) }}{% endif -%}
  {%- set found = run_query("select count(*) from " ~ listing ~ " where entity = '" ~ entity ~ "'") -%}
  {{ return(found.columns[0].values()[0] > 0) }}
{%- endmacro %}

{% macro default__landing_has_files(entity) -%}
  {#- Engines without a file listing here: assume the files are there (a missing folder then
      fails in the reader). -#}
  {{ return(true) }}
{%- endmacro %}
