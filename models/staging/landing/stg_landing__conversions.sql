with source as (

    -- valid rows, the first delivery of each event_id
    {{ landing_kept_rows('conversions') }}

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

)

select * from renamed
