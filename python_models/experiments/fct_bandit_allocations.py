"""One row per experiment x reward x variant: Thompson-sampling posteriors, P(best) and the
recommended traffic allocation (receval.experiments.marts.bandit_allocations)."""
from receval.experiments.marts import bandit_allocations
from receval.warehouse import to_arrow


def model(dbt, session):
    dbt.config(materialized="table")
    return bandit_allocations(
        to_arrow(dbt.ref("fct_experiment_user_metrics")),
        to_arrow(dbt.ref("experiment_registry")),
        min_share=float(dbt.config.get("min_share")),
        n_samples=int(dbt.config.get("n_samples")),
        random_state=int(dbt.config.get("random_state")),
        alpha=float(dbt.config.get("alpha")),
    )
