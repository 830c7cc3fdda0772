with source as (

    -- valid rows, the first delivery of each event_id
    {{ landing_kept_rows('users') }}

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

)

select * from renamed
