"""One row per experiment x treatment variant x metric: raw and CUPED effects side by side
(receval.experiments.marts.experiment_results)."""
from receval.experiments.marts import experiment_results
from receval.warehouse import to_arrow


def model(dbt, session):
    dbt.config(materialized="table")
    return experiment_results(
        to_arrow(dbt.ref("fct_experiment_user_metrics")),
        to_arrow(dbt.ref("experiment_registry")),
        msprt_relative_effect=float(dbt.config.get("msprt_relative_effect")),
    )
