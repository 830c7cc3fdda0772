with source as (

    -- valid rows, the first delivery of each event_id
    {{ landing_kept_rows('assignments') }}

),

renamed as (

    select
        event_id,
        experiment_id,
        variant,
        user_id,
        ts,
        landed_at,
        source_file
    from source

)

select * from renamed
