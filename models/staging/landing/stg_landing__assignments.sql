with source as (

    select * from {{ ref('base_landing__assignments') }}

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
    -- valid rows, first delivery of each event_id
    where delivery_rank = 1

)

select * from renamed
