with source as (

    -- valid rows, the first delivery of each event_id
    {{ landing_kept_rows('candidates') }}

),

renamed as (

    select
        event_id,
        request_id,
        user_id,
        item_id,
        retrieval_rank,
        retrieval_score,
        ts,
        landed_at,
        source_file
    from source

)

select * from renamed
