"""int_cf__candidate_scores: one row per current model version x task x logged candidate
of the requests the candidate-model target policies are evaluated on.

Thin: the registry, the candidates' point-in-time features and the content embeddings in,
one package call (receval.models.training.score_candidates, the scorer of fct_model_scores),
Arrow out.
"""
from receval.models.training import score_candidates
from receval.warehouse import to_arrow


def model(dbt, session):
    dbt.config(materialized="table")
    return score_candidates(
        to_arrow(dbt.ref("int_candidates__training_runs")),
        to_arrow(dbt.ref("int_cf__candidate_features")),
        to_arrow(dbt.ref("int_features__item_content")),
    )
