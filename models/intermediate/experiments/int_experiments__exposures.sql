-- One row per user x experiment: the first exposure (earliest assignment or request of
-- the experiment), the variant then, and whether the user is excluded from the analysis
-- (exposed to more than one variant, or to a variant / experiment not in the registry).
{{ config(materialized='table') }}
with events as (
    select * from {{ ref('int_experiments__exposure_events') }}
),

registry as (
    select experiment_id, name as variant
    from {{ ref('experiment_registry') }}
    where entry = 'variant'
),

per_user as (
    select
        experiment_id,
        user_id,
        min(exposed_at) as first_exposure_at,
        min(case when source = 'assignment' then exposed_at end) as assigned_at,
        min(case when source = 'request' then exposed_at end) as first_request_at,
        count(distinct variant) as n_variants,
        count(*) as n_exposure_events
    from events
    group by experiment_id, user_id
),

ranked as (
    select
        experiment_id,
        user_id,
        variant,
        row_number() over (
            partition by experiment_id, user_id
            order by exposed_at, source, event_id
        ) as exposure_rank
    from events
),

first_variant as (
    select experiment_id, user_id, variant from ranked where exposure_rank = 1
),

joined as (
    select
        per_user.experiment_id,
        per_user.user_id,
        first_variant.variant,
        per_user.first_exposure_at,
        cast(per_user.first_exposure_at as date) as first_exposure_date,
        per_user.assigned_at,
        per_user.first_request_at,
        per_user.n_variants,
        per_user.n_exposure_events,
        case
            when per_user.n_variants > 1 then 'multiple_variants'
            when registry.variant is null then 'unregistered_variant'
        end as exclusion_reason
    from per_user
    inner join first_variant
        on per_user.experiment_id = first_variant.experiment_id
        and per_user.user_id = first_variant.user_id
    left join registry
        on per_user.experiment_id = registry.experiment_id
        and first_variant.variant = registry.variant
)

select
    experiment_id,
    user_id,
    variant,
    first_exposure_at,
    first_exposure_date,
    assigned_at,
    first_request_at,
    cast(n_variants as integer) as n_variants,
    cast(n_exposure_events as bigint) as n_exposure_events,
    exclusion_reason is not null as is_excluded,
    exclusion_reason
from joined
