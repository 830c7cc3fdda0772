{#- One row per logged retrieval candidate of int_cf__candidate_slots (the requests the
    candidate-model target policies are evaluated on) with the point-in-time features the
    candidate models were trained on (pit_slot_features, macros/features/), as of the same
    instant as the request's impressions, at position var cf_candidate_score_position: a
    candidate that was shown gets its impression's features but the position (and the hour
    of day, read at the request's first impression). -#}
{{ config(materialized='table') }}

with

slots as (
    select * from {{ ref('int_cf__candidate_slots') }}
),

{{ pit_slot_features('features', 'slots', users=ref('int_core__users'), items=ref('int_core__items'),
                     requests=ref('stg_landing__requests')) }}

select * from features
