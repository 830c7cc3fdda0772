{#- A table: small (a row per file and column) and read by base_landing__files only once,
    but it opens every landing file's footer. -#}
{{ config(materialized='table') }}

{#- An optional entity without files (landing_relation) has no schemas to read. -#}
{%- set entities = [] -%}
{%- for entity in landing_entities() if not execute or landing_has_files(entity) -%}
  {%- do entities.append(entity) -%}
{%- endfor %}
{%- for entity in entities %}
select '{{ entity }}' as entity, file_schema.*
from ({{ landing_file_schemas(entity) }}) as file_schema
{%- if not loop.last %}
union all
{%- endif %}
{%- endfor %}
