-- One row per user x experiment with the first exposure and the exclusion flag: the
-- published face of int_experiments__exposures.
select * from {{ ref('int_experiments__exposures') }}
