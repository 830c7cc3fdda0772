with source as (

    select * from {{ ref('base_landing__impressions') }}

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
    -- valid rows, first delivery of each event_id
    where delivery_rank = 1

)

select * from renamed
