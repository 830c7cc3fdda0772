with source as (

    select * from {{ ref('base_landing__items') }}

),

renamed as (

    select
        event_id,
        item_id,
        ts,
        category,
        price,
        created_at,
        brand,
        title,
        landed_at,
        source_file
    from source
    -- valid rows, first delivery of each event_id
    where delivery_rank = 1

)

select * from renamed
