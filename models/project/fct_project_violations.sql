{#- The project's own rules, checked against dbt's graph in dbt-project-evaluator's pattern:
    one row per violation, and an is_empty test (error) on the model. Rules:
    - layer_reads_mart: a staging or intermediate model (stg_ / base_ / int_, or under
      models/staging or models/intermediate) reads a mart (fct_ / dim_ / rpt_, or under
      models/marts) directly;
    - model_undocumented: a model has no yml entry, or its entry documents no column;
    - mart_unguarded: a mart has neither an enforced contract nor the columns_match_yml
      test, so a renamed or retyped column would reach the published Parquet unnoticed.
    The graph is read when dbt executes the model; parsing sees the empty select. -#}
{%- set violations = [] %}
{%- if execute %}
    {%- set models = {} %}
    {%- set schema_checked = [] %}
    {%- for node in graph.nodes.values() %}
        {%- if node.resource_type == 'model' and node.package_name == project_name %}
            {%- do models.update({node.unique_id: node}) %}
        {%- elif node.resource_type == 'test' and (node.get('test_metadata') or {}).get('name') == 'columns_match_yml' %}
            {%- do schema_checked.append(node.attached_node) %}
        {%- endif %}
    {%- endfor %}

    {%- set marts = [] %}
    {%- for node in models.values() %}
        {%- if node.name.startswith(('fct_', 'dim_', 'rpt_')) or node.fqn[1] == 'marts' %}
            {%- do marts.append(node.unique_id) %}
        {%- endif %}
    {%- endfor %}

    {%- for node in models.values() | sort(attribute='name') %}
        {%- if node.name.startswith(('stg_', 'base_', 'int_')) or node.fqn[1] in ('staging', 'intermediate') %}
            {%- for parent in node.depends_on.nodes | sort if parent in marts %}
                {%- do violations.append((node.name, 'layer_reads_mart', 'reads ' ~ models[parent].name)) %}
            {%- endfor %}
        {%- endif %}
        {%- if not node.patch_path %}
            {%- do violations.append((node.name, 'model_undocumented', 'no yml entry')) %}
        {%- elif not node.columns %}
            {%- do violations.append((node.name, 'model_undocumented', 'the yml entry documents no column')) %}
        {%- endif %}
        {%- if node.unique_id in marts and not node.config.contract.enforced
              and node.unique_id not in schema_checked %}
            {%- do violations.append((node.name, 'mart_unguarded', 'neither an enforced contract nor columns_match_yml')) %}
        {%- endif %}
    {%- endfor %}
{%- endif %}

{%- for model_name, rule, detail in violations %}
select '{{ model_name }}' as model_name, '{{ rule }}' as rule, '{{ detail }}' as detail
{% if not loop.last %}union all{% endif %}
{%- else %}
select
    cast(null as string) as model_name,
    cast(null as string) as rule,
    cast(null as string) as detail
where false
{%- endfor %}
