with source as (

    -- valid rows, the first delivery of each event_id
    {{ landing_kept_rows('shadow_scores') }}

),

renamed as (

    select
        event_id,
        request_id,
        item_id,
        model_id,
        score,
        latency_ms,
        ts,
        landed_at,
        source_file
    from source

)

select * from renamed
