"""One row per outcome (clicks, purchases): team-draft interleaving credit, wins / ties /
losses, preference and tests (receval.experiments.marts.interleaving_results)."""
from receval.experiments.marts import interleaving_results
from receval.warehouse import to_arrow


def model(dbt, session):
    dbt.config(materialized="table")
    return interleaving_results(
        to_arrow(dbt.ref("int_experiments__interleaved_requests")),
        team_a_model=dbt.config.get("team_a_model"),
        team_b_model=dbt.config.get("team_b_model"),
        n_bootstrap=int(dbt.config.get("n_bootstrap")),
        random_state=int(dbt.config.get("random_state")),
        alpha=float(dbt.config.get("alpha")),
    )
