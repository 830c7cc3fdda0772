-- One row per item: the published face of int_core__items.
select * from {{ ref('int_core__items') }}
