"""fct_offline_metrics: one row per model x task x split x segment x period x metric.

Thin: the scored impressions (and, for the delay correction of immature conversion cells,
the clicked impressions' delays) in, one package call (receval.metrics.marts), Arrow out.
Grain and columns: python_models/offline/_offline__models.yml; the math:
docs/offline_metrics.md and docs/delayed_feedback.md.
"""
from receval.delayed.corrections import fit_overall_curve
from receval.metrics.marts import offline_metrics_table
from receval.warehouse import ColumnReader, to_arrow


def model(dbt, session):
    dbt.config(materialized="table")
    ranking_ks = dbt.config.get("ranking_ks")
    production_model = dbt.config.get("production_model")  # its own line: dbt misses a get inside `or`
    curve, curve_reason = fit_overall_curve(
        to_arrow(dbt.ref("int_delayed__clicks")),
        window_hours=float(dbt.config.get("window_hours")),
        alpha=float(dbt.config.get("alpha")),
    )
    return offline_metrics_table(
        ColumnReader(dbt.ref("int_offline__scored_impressions"), session),
        baseline_model=production_model or None,
        ks=[int(k) for k in ranking_ks],
        n_bins=int(dbt.config.get("ece_bins")),
        n_bootstrap=int(dbt.config.get("n_bootstrap")),
        n_bootstrap_daily=int(dbt.config.get("n_bootstrap_daily")),
        random_state=int(dbt.config.get("random_state")),
        alpha=float(dbt.config.get("alpha")),
        resample_unit=dbt.config.get("resample_unit"),
        conversion_mature_only=bool(dbt.config.get("conversion_mature_only")),
        delay_curve=curve,
        delay_curve_reason=curve_reason,
    )
