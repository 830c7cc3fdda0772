{#- The schema check of a model dbt cannot contract (a Python model): fails on every column
    whose built name or type differs from the yml, one row each: missing (documented, not
    built), extra (built, not documented), untyped (documented without a data_type) or
    mistyped (data_type is not the type the engine reports; compared case-insensitively,
    so write it as the engine names it: bigint, double, date, bigint[], ..., or string,
    the name both engines read, for DuckDB's varchar).
    The columns are read when the test runs, so the query itself is a list of literals. -#}
{% test columns_match_yml(model) %}

{%- set problems = [] %}
{%- if execute %}
    {%- set node = graph.nodes.values()
                   | selectattr('resource_type', 'equalto', 'model')
                   | selectattr('schema', 'equalto', model.schema)
                   | selectattr('alias', 'equalto', model.identifier)
                   | first %}
    {%- set documented = {} %}
    {%- for column in node.columns.values() %}
        {%- set data_type = (column.data_type or '') | lower %}
        {%- do documented.update({column.name | lower: 'varchar' if data_type == 'string' else data_type}) %}
    {%- endfor %}
    {%- set built = {} %}
    {%- for column in adapter.get_columns_in_relation(model) %}
        {%- do built.update({column.name | lower: column.dtype | lower}) %}
    {%- endfor %}
    {%- for name, data_type in documented.items() %}
        {%- if name not in built %}
            {%- do problems.append({'column_name': name, 'problem': 'missing', 'documented_type': data_type}) %}
        {%- elif not data_type %}
            {%- do problems.append({'column_name': name, 'problem': 'untyped', 'built_type': built[name]}) %}
        {%- elif data_type != built[name] %}
            {%- do problems.append({'column_name': name, 'problem': 'mistyped', 'documented_type': data_type,
                                    'built_type': built[name]}) %}
        {%- endif %}
    {%- endfor %}
    {%- for name, dtype in built.items() if name not in documented %}
        {%- do problems.append({'column_name': name, 'problem': 'extra', 'built_type': dtype}) %}
    {%- endfor %}
{%- endif %}

{%- for p in problems %}
select
    '{{ p.column_name }}' as column_name,
    '{{ p.problem }}' as problem,
    {{ "'" ~ p.documented_type ~ "'" if p.documented_type else 'null' }} as documented_type,
    {{ "'" ~ p.built_type ~ "'" if p.built_type else 'null' }} as built_type
{% if not loop.last %}union all{% endif %}
{%- else %}
select
    cast(null as varchar) as column_name,
    cast(null as varchar) as problem,
    cast(null as varchar) as documented_type,
    cast(null as varchar) as built_type
where false
{%- endfor %}

{% endtest %}
