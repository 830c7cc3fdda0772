-- One row per impression date: its time-based split. Counting back from the last
-- impression date: the last split_test_days are test, the split_validation_days before
-- them validation, the split_train_days before those train; older dates (the pre-period)
-- are out_of_window. Join on impression_date; the split is not stored on the incremental
-- labels table because it moves each time a new day lands.
{{ config(materialized='table') }}
with dates as (
    select distinct impression_date from {{ ref('int_labels__impressions') }}
),

days_back as (
    select
        impression_date,
        cast({{ dbt.datediff('impression_date', '(select max(impression_date) from dates)', 'day') }} as bigint) as days_before_end
    from dates
)

select
    impression_date,
    days_before_end,
    case
        when days_before_end < {{ var('split_test_days') }} then 'test'
        when days_before_end < {{ var('split_test_days') + var('split_validation_days') }} then 'validation'
        when days_before_end < {{ var('split_test_days') + var('split_validation_days') + var('split_train_days') }}
            then 'train'
        else 'out_of_window'
    end as split
from days_back
