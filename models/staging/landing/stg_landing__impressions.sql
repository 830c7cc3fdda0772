with source as (

    -- valid rows, the first delivery of each event_id
    {{ landing_kept_rows('impressions') }}

),

renamed as (

    select
        event_id,
        request_id,
        user_id,
        item_id,
        position,
        ts,
        model_id,
        score,
        propensity,
        team,
        landed_at,
        source_file
    from source

)

select * from renamed
