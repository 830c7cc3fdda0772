"""fct_conversion_delay: one row per segment x statistic x horizon or quantile level.

Thin: the clicked impressions in, one package call (receval.delayed.marts), Arrow out.
Grain and columns: python_models/delayed/_delayed__models.yml; the math:
docs/delayed_feedback.md.
"""
from receval.delayed.marts import conversion_delay_table
from receval.warehouse import to_arrow


def model(dbt, session):
    dbt.config(materialized="table")
    # outside the comprehensions: dbt's parser does not look for config.get calls inside one
    horizons = dbt.config.get("horizons_hours")
    quantile_levels = dbt.config.get("quantile_levels")
    return conversion_delay_table(
        to_arrow(dbt.ref("int_delayed__clicks")),
        window_hours=float(dbt.config.get("window_hours")),
        horizons=[float(h) for h in horizons],
        quantile_levels=[float(q) for q in quantile_levels],
        alpha=float(dbt.config.get("alpha")),
    )
