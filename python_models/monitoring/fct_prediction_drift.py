"""fct_prediction_drift: one row per day x serving model x segment, the served score's
distribution and its drift against the day's reference window, beside the click rate and
calibration ratio of fct_online_auc (receval.monitoring.prediction.prediction_drift_table).
"""
from receval.monitoring.prediction import prediction_drift_table
from receval.preparation import served_scores
from receval.warehouse import read, to_arrow


def model(dbt, session):
    dbt.config(materialized="table")
    segments = dbt.config.get("segments")
    return prediction_drift_table(
        read(dbt.ref("int_monitoring__served_impressions"), session, lambda served: served_scores(served, segments)),
        to_arrow(dbt.ref("int_monitoring__reference_windows")),
        to_arrow(dbt.ref("fct_online_auc")),
        segments=segments,
        min_reference_days=int(dbt.config.get("min_reference_days")),
        min_rows=int(dbt.config.get("min_rows")),
        n_bins=int(dbt.config.get("n_bins")), epsilon=float(dbt.config.get("epsilon")),
        warn=float(dbt.config.get("warn")), alert=float(dbt.config.get("alert")),
    )
