-- One row per deduplicated impression with its labels and their maturity: the published
-- face of int_labels__impressions (built incrementally there; the contract pins its columns).
select * from {{ ref('int_labels__impressions') }}
