-- Time-based splits must not leak: no train impression is later than any validation
-- impression, and no validation impression later than any test impression.
-- Rows returned are violations.
with bounds as (
    select
        split_dates.split,
        min(labels.impression_ts) as first_ts,
        max(labels.impression_ts) as last_ts
    from {{ ref('fct_impression_labels') }} as labels
    inner join {{ ref('dim_split_dates') }} as split_dates
        on labels.impression_date = split_dates.impression_date
    group by split_dates.split
)

select earlier.split as earlier_split, later.split as later_split, earlier.last_ts, later.first_ts
from bounds as earlier
inner join bounds as later
    on (earlier.split = 'train' and later.split in ('validation', 'test'))
    or (earlier.split = 'validation' and later.split = 'test')
where earlier.last_ts >= later.first_ts
