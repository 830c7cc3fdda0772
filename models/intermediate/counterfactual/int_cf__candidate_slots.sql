{#- The spine of int_cf__candidate_features: one row per logged retrieval candidate
    (event_id of stg_landing__candidates) of the requests the candidate-model target
    policies are evaluated on: lists served on the dates of the splits in var
    cf_candidate_policy_splits (out of the models' training window) whose every shown slot
    has a logged propensity, so a policy that reorders the candidates has support. With the
    instant the request's features are read at (its first impression) and the position
    the candidates are scored at (var cf_candidate_score_position). A table: the feature
    macro reads it several times. -#}
{{ config(materialized='table') }}

{%- set splits = var('cf_candidate_policy_splits') -%}
{%- if splits is string or splits | length == 0 -%}
  {{ exceptions.raise_compiler_error("var cf_candidate_policy_splits must be a non-empty list of splits, got " ~ splits) }}
{%- endif %}

with

evaluated_requests as (
    select logged_requests.*
    from {{ ref('int_cf__logged_requests') }} as logged_requests
    inner join {{ ref('int_labels__split_dates') }} as splits
        on logged_requests.impression_date = splits.impression_date
    where splits.split in ({% for s in splits %}'{{ s }}'{{ ', ' if not loop.last }}{% endfor %})
),

candidate_slots as (
    select
        candidates.event_id,
        candidates.request_id,
        candidates.user_id,
        candidates.item_id,
        candidates.retrieval_rank,
        evaluated_requests.impression_date,
        cast({{ var('cf_candidate_score_position') }} as integer) as position,
        evaluated_requests.point_ts,
        evaluated_requests.point_ts as context_ts
    from {{ ref('stg_landing__candidates') }} as candidates
    inner join evaluated_requests on candidates.request_id = evaluated_requests.request_id
)

select * from candidate_slots
