"""int_cf__candidate_target_policies: the top-K and Plackett-Luce target policies of every
candidate model over the logged candidate sets, in the target-policy contract.

Thin: the candidates' calibrated click scores and the logged slots in, one package call
(receval.ope.candidate_policies.candidate_policy_table), Arrow out.
"""
from receval.ope.candidate_policies import candidate_policy_table
from receval.preparation import click_scores, shown_items
from receval.warehouse import read


def model(dbt, session):
    dbt.config(materialized="table")
    params = dbt.config.get("meta")  # the cf_* vars, rendered in _counterfactual__models.yml
    return candidate_policy_table(
        read(dbt.ref("int_cf__candidate_scores"), session, click_scores),
        read(dbt.ref("int_propensities"), session, shown_items),
        k=int(params["cf_top_k"]),
        temperature=float(params["cf_softmax_temperature"]),
        n_samples=int(params["cf_softmax_samples"]),
        random_state=int(params["cf_random_state"]),
    )
