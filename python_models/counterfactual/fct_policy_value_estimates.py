"""fct_policy_value_estimates: every off-policy estimator for every target policy.

Thin: the slots of int_cf__policy_slots to Arrow, one package call
(receval.ope.marts.estimate_policy_values), an Arrow table back.
"""
from receval.ope.marts import estimate_policy_values
from receval.warehouse import to_arrow


def model(dbt, session):
    dbt.config(materialized="table")
    params = dbt.config.get("meta")  # the cf_* vars, rendered in _counterfactual__models.yml
    slots = to_arrow(dbt.ref("int_cf__policy_slots"))
    return estimate_policy_values(
        slots,
        clip=float(params["cf_ips_clip"]),
        alpha=float(params["cf_alpha"]),
        n_bootstrap=int(params["cf_n_bootstrap"]),
        random_state=int(params["cf_random_state"]),
        min_requests=int(params["cf_min_requests"]),
    )
