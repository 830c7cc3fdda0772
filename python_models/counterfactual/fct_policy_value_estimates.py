"""fct_policy_value_estimates: every off-policy estimator for every target policy.

Thin: int_cf__policy_slots as a column reader (a policy's slots at a time), one package
call (receval.ope.marts.estimate_policy_values), an Arrow table back.
"""
from receval.ope.marts import estimate_policy_values
from receval.warehouse import ColumnReader


def model(dbt, session):
    dbt.config(materialized="table")
    params = dbt.config.get("meta")  # the cf_* vars, rendered in _counterfactual__models.yml
    return estimate_policy_values(
        ColumnReader(dbt.ref("int_cf__policy_slots"), session),
        clip=float(params["cf_ips_clip"]),
        alpha=float(params["cf_alpha"]),
        n_bootstrap=int(params["cf_n_bootstrap"]),
        random_state=int(params["cf_random_state"]),
        min_requests=int(params["cf_min_requests"]),
        read_rows=int(params["cf_read_rows"]) or None,
    )
