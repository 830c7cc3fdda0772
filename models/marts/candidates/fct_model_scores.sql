-- One row per current model version x task x scored impression: the published face of
-- int_candidates__scores (a Python model; this SQL mart gives the scores a contract).
select * from {{ ref('int_candidates__scores') }}
