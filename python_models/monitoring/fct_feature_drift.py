"""fct_feature_drift: one row per day x source x segment x feature, the drift of the
warehouse's point-in-time features and of the served features against each day's reference
window (PSI, Jensen-Shannon distance, KS / chi-square).

Thin: the feature rows and the reference windows in, one package call
(receval.monitoring.features.feature_drift_mart), Arrow out. Grain and columns:
python_models/monitoring/_fct_feature_drift.yml; the math: docs/monitoring.md.
"""
from receval.monitoring.features import feature_drift_mart
from receval.warehouse import to_arrow


def model(dbt, session):
    dbt.config(materialized="table")
    features = dbt.config.get("features")
    served_features = dbt.config.get("served_features")
    segments = dbt.config.get("segments")
    # only the columns the vars name (int_features__impressions is wide); a name that is
    # not a column is left for the package to report, naming the var
    wanted = {"impression_date", *segments, *(f.get("name") for f in features if isinstance(f, dict))}
    impressions = dbt.ref("int_features__impressions")
    return feature_drift_mart(
        to_arrow(impressions.select(*[c for c in impressions.columns if c in wanted])),
        to_arrow(dbt.ref("int_monitoring__served_feature_values")),
        to_arrow(dbt.ref("int_monitoring__reference_windows")),
        features=features, served_features=served_features, segments=segments,
        min_reference_days=int(dbt.config.get("min_reference_days")),
        min_rows=int(dbt.config.get("min_rows")),
        n_bins=int(dbt.config.get("n_bins")), epsilon=float(dbt.config.get("epsilon")),
        warn=float(dbt.config.get("warn")), alert=float(dbt.config.get("alert")),
    )
