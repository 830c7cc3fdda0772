"""fct_cvr_by_day: one row per click day x segment, the naive, corrected, DFM and final CVR.

Thin: the clicked impressions in, one package call (receval.delayed.marts), Arrow out.
Grain and columns: python_models/delayed/_delayed__models.yml; the math:
docs/delayed_feedback.md.
"""
from receval.delayed.marts import cvr_by_day_table
from receval.warehouse import to_arrow


def model(dbt, session):
    dbt.config(materialized="table")
    return cvr_by_day_table(
        to_arrow(dbt.ref("int_delayed__clicks")),
        window_hours=float(dbt.config.get("window_hours")),
        alpha=float(dbt.config.get("alpha")),
        min_purchases=int(dbt.config.get("min_purchases")),
        dfm_distribution=dbt.config.get("dfm_distribution"),
    )
