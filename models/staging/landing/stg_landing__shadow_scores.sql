with source as (

    select * from {{ ref('base_landing__shadow_scores') }}

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
    -- valid rows, first delivery of each event_id
    where delivery_rank = 1

)

select * from renamed
