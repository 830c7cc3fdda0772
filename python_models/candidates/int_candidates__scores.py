"""int_candidates__scores: one row per model version this build trained x task x scored
impression (published as fct_model_scores).

Thin: this build's training runs, the scored splits' point-in-time features and the content
embeddings in, one package call (receval.models.training.score_candidates), Arrow out.
"""
from receval.models.training import score_candidates
from receval.preparation import split_rows
from receval.warehouse import read, to_arrow


def model(dbt, session):
    dbt.config(materialized="table")
    splits = dbt.config.get("splits")
    return score_candidates(
        to_arrow(dbt.ref("int_candidates__training_runs")),
        read(dbt.ref("int_features__impressions"), session, lambda features: split_rows(features, splits)),
        to_arrow(dbt.ref("int_features__item_content")),
    )
