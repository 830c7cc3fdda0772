"""fct_model_scores: one row per current model version x task x test-split impression.

Thin: the registry, the test split's point-in-time features and the content embeddings in,
one package call (receval.models.training.score_candidates), Arrow out.
"""
from receval.models.training import score_candidates
from receval.warehouse import to_arrow


def model(dbt, session):
    dbt.config(materialized="table")
    splits = dbt.config.get("splits")
    split_list = ", ".join(f"'{split}'" for split in splits)
    return score_candidates(
        to_arrow(dbt.ref("dim_model_registry")),
        to_arrow(dbt.ref("int_features__impressions").filter(f"split in ({split_list})")),
        to_arrow(dbt.ref("int_features__item_content")),
    )
