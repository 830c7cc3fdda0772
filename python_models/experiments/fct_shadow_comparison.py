"""One row per challenger x production model x statistic: shadow scores against production
on the same requests (receval.experiments.marts.shadow_comparison)."""
from receval.experiments.marts import shadow_comparison
from receval.warehouse import to_arrow


def model(dbt, session):
    dbt.config(materialized="table")
    return shadow_comparison(
        to_arrow(dbt.ref("int_experiments__shadow_pairs")),
        top_k=int(dbt.config.get("top_k")),
        alpha=float(dbt.config.get("alpha")),
    )
