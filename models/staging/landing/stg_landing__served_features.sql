with source as (

    -- valid rows, the first delivery of each event_id
    {{ landing_kept_rows('served_features') }}

),

renamed as (

    select
        event_id,
        request_id,
        user_id,
        item_id,
        ts,
        feature_name,
        feature_value,
        landed_at,
        source_file
    from source

)

select * from renamed
