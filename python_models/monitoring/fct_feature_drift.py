"""fct_feature_drift: one row per day x source x segment x feature, the drift of the
warehouse's point-in-time features and of the served features against each day's reference
window (PSI, Jensen-Shannon distance, KS / chi-square).

Thin: the feature rows and the reference windows in, one package call
(receval.monitoring.features.feature_drift_mart), Arrow out. Grain and columns:
python_models/monitoring/_fct_feature_drift.yml; the math: docs/monitoring.md.
"""
from receval.monitoring.features import feature_drift_mart
from receval.warehouse import ColumnReader, to_arrow


def model(dbt, session):
    dbt.config(materialized="table")
    # the feature rows are read a few features at a time (var monitoring_drift_read_values):
    # every feature of 51M impressions at once would not fit the memory target
    return feature_drift_mart(
        ColumnReader(dbt.ref("int_features__impressions"), session),
        ColumnReader(dbt.ref("int_monitoring__served_feature_values"), session),
        to_arrow(dbt.ref("int_monitoring__reference_windows")),
        features=dbt.config.get("features"), served_features=dbt.config.get("served_features"),
        segments=dbt.config.get("segments"),
        min_reference_days=int(dbt.config.get("min_reference_days")),
        min_rows=int(dbt.config.get("min_rows")),
        n_bins=int(dbt.config.get("n_bins")), epsilon=float(dbt.config.get("epsilon")),
        warn=float(dbt.config.get("warn")), alert=float(dbt.config.get("alert")),
        read_values=int(dbt.config.get("read_values")),
    )
