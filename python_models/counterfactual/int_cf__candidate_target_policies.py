"""int_cf__candidate_target_policies: the top-K and Plackett-Luce target policies of every
candidate model over the logged candidate sets, in the target-policy contract.

Thin: the candidates' calibrated click scores and the logged slots in, one package call
(receval.ope.candidate_policies.candidate_policy_table), Arrow out.
"""
from receval.ope.candidate_policies import candidate_policy_table
from receval.warehouse import to_arrow


def model(dbt, session):
    dbt.config(materialized="table")
    params = dbt.config.get("meta")  # the cf_* vars, rendered in _counterfactual__models.yml
    scores = dbt.ref("int_cf__candidate_scores").filter("task = 'click'")
    shown = dbt.ref("int_propensities").select("request_id", "item_id")
    return candidate_policy_table(
        to_arrow(scores.select("model_id", "request_id", "item_id", "calibrated_score")),
        to_arrow(shown),
        k=int(params["cf_top_k"]),
        temperature=float(params["cf_softmax_temperature"]),
        n_samples=int(params["cf_softmax_samples"]),
        random_state=int(params["cf_random_state"]),
    )
