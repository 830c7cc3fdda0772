with source as (

    select * from {{ ref('base_landing__users') }}

),

renamed as (

    select
        event_id,
        user_id,
        ts,
        signup_at,
        country,
        device,
        landed_at,
        source_file
    from source
    -- valid rows, first delivery of each event_id
    where delivery_rank = 1

)

select * from renamed
