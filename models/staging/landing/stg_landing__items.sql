with source as (

    -- valid rows, the first delivery of each event_id
    {{ landing_kept_rows('items') }}

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

)

select * from renamed
