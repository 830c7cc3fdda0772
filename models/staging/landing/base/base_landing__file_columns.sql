{#- A table: small (a row per file and column) and read by base_landing__files only once,
    but it opens every landing file's footer. -#}
{{ config(materialized='table') }}

{{ landing_file_columns() }}
