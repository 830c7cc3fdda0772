with source as (

    select * from {{ ref('base_landing__served_features') }}

),

renamed as (

    select
        event_id,
        request_id,
        user_id,
        item_id,
        ts,
        feature_name,
        feature_value,
        landed_at,
        source_file
    from source
    -- valid rows, first delivery of each event_id
    where delivery_rank = 1

)

select * from renamed
