with source as (

    select * from {{ ref('base_landing__conversions') }}

),

renamed as (

    select
        event_id,
        order_id,
        user_id,
        item_id,
        ts,
        revenue,
        currency,
        landed_at,
        source_file
    from source
    -- valid rows, first delivery of each event_id
    where delivery_rank = 1

)

select * from renamed
