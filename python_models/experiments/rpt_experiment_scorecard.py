"""One row per experiment: the decision (ship / dont_ship / inconclusive / continue / invalid),
the test that drove it (always-valid while running, fixed horizon at the planned end) and
why (receval.experiments.marts.experiment_scorecard)."""
from receval.experiments.marts import experiment_scorecard
from receval.warehouse import to_arrow


def model(dbt, session):
    dbt.config(materialized="table")
    return experiment_scorecard(
        to_arrow(dbt.ref("fct_experiment_results")),
        to_arrow(dbt.ref("fct_srm_checks")),
        to_arrow(dbt.ref("fct_guardrail_checks")),
        to_arrow(dbt.ref("experiment_registry")),
        to_arrow(dbt.ref("fct_experiment_exposures")),
        to_arrow(dbt.ref("int_labels__data_end")),
    )
