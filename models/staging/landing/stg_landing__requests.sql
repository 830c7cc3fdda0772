with source as (

    -- valid rows, the first delivery of each event_id
    {{ landing_kept_rows('requests') }}

),

renamed as (

    select
        event_id,
        request_id,
        user_id,
        ts,
        surface,
        device,
        model_id,
        latency_ms,
        status,
        experiment_id,
        variant,
        landed_at,
        source_file
    from source

)

select * from renamed
