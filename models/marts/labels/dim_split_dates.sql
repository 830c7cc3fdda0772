-- One row per impression date with its split: the published face of int_labels__split_dates.
select * from {{ ref('int_labels__split_dates') }}
