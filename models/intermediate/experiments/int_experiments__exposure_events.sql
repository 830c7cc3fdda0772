-- One row per exposure event of a user to an experiment variant: every assignment and
-- every request that carries an experiment_id (the request's variant is what was served).
with assignments as (
    select * from {{ ref('stg_landing__assignments') }}
),

requests as (
    select * from {{ ref('stg_landing__requests') }}
    where experiment_id is not null
),

events as (
    select
        experiment_id,
        variant,
        user_id,
        ts as exposed_at,
        'assignment' as source,
        event_id
    from assignments
    union all
    select
        experiment_id,
        variant,
        user_id,
        ts as exposed_at,
        'request' as source,
        event_id
    from requests
)

select * from events
