"""fct_delayed_feedback_backtest: per click day before the cut x segment x method, the rate
as it stood at the cut against the final rate now.

Thin: the clicks as they stood at the cut in, one package call (receval.delayed.marts),
Arrow out. Grain and columns: python_models/delayed/_delayed__models.yml; the method:
docs/delayed_feedback.md.
"""
from receval.delayed.marts import delayed_feedback_backtest_table
from receval.warehouse import to_arrow


def model(dbt, session):
    dbt.config(materialized="table")
    return delayed_feedback_backtest_table(
        to_arrow(dbt.ref("int_delayed__clicks_at_cut")),
        window_hours=float(dbt.config.get("window_hours")),
        alpha=float(dbt.config.get("alpha")),
        min_purchases=int(dbt.config.get("min_purchases")),
        dfm_distribution=dbt.config.get("dfm_distribution"),
    )
