-- One row per user: the published face of int_core__users.
select * from {{ ref('int_core__users') }}
