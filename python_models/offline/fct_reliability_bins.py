"""fct_reliability_bins: one row per model x task x split x binning strategy x bin.

Thin: the scored impressions in, one package call (receval.metrics.marts), Arrow out.
"""
from receval.metrics.marts import reliability_bins_table
from receval.warehouse import ColumnReader


def model(dbt, session):
    dbt.config(materialized="table")
    mature_only = dbt.config.get("conversion_mature_only")
    return reliability_bins_table(
        ColumnReader(dbt.ref("int_offline__scored_impressions"), session),
        n_bins=int(dbt.config.get("ece_bins")),
        alpha=float(dbt.config.get("alpha")),
        conversion_mature_only=bool(mature_only),
    )
