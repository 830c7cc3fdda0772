"""One row per experiment x treatment variant x guardrail: non-inferiority tests on the
serving logs (receval.experiments.marts.guardrail_checks)."""
from receval.experiments.marts import guardrail_checks
from receval.warehouse import to_arrow


def model(dbt, session):
    dbt.config(materialized="table")
    return guardrail_checks(
        to_arrow(dbt.ref("fct_experiment_user_metrics")),
        to_arrow(dbt.ref("int_experiments__exposed_requests")),
        to_arrow(dbt.ref("experiment_registry")),
    )
