{#- A table: small (a row per file and column) and read by base_landing__files only once,
    but it opens every landing file's footer. -#}
{{ config(materialized='table') }}

{#- An absent optional entity has no files to read the schemas of. -#}
{%- for entity in landing_entities() if not landing_is_absent(entity) %}
select '{{ entity }}' as entity, file_schema.*
from ({{ landing_file_schemas(entity) }}) as file_schema
{%- if not loop.last %}
union all
{%- endif %}
{%- endfor %}
