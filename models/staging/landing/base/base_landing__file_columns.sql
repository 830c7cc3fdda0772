{#- A table: small (a row per file and column) and read by base_landing__files only once,
    but it opens every landing file's footer. -#}
{{ config(materialized='table') }}

{%- for entity in landing_entities() %}
select '{{ entity }}' as entity, file_schema.*
from ({{ landing_file_schemas(entity) }}) as file_schema
{%- if not loop.last %}
union all
{%- endif %}
{%- endfor %}
