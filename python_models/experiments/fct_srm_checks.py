"""One row per experiment x variant: the sample-ratio-mismatch chi-square test
(receval.experiments.marts.srm_checks)."""
from receval.experiments.marts import srm_checks
from receval.warehouse import to_arrow


def model(dbt, session):
    dbt.config(materialized="table")
    return srm_checks(
        to_arrow(dbt.ref("fct_experiment_exposures")),
        to_arrow(dbt.ref("experiment_registry")),
        threshold=float(dbt.config.get("srm_threshold")),
        alpha=float(dbt.config.get("alpha")),
    )
