"""One row per experiment x metric x estimator: A/A calibration on placebo re-randomisations
of the experiment's real users (receval.experiments.placebo.aa_calibration)."""
from receval.experiments.placebo import aa_calibration
from receval.warehouse import to_arrow


def model(dbt, session):
    dbt.config(materialized="table")
    return aa_calibration(
        to_arrow(dbt.ref("fct_experiment_user_metrics")),
        to_arrow(dbt.ref("experiment_registry")),
        n_replicates=int(dbt.config.get("n_replicates")),
        random_state=int(dbt.config.get("random_state")),
    )
