"""``fct_prediction_drift``: the distribution of each serving model's scores per day and
segment (count, mean, deciles 1, 5 and 9), its drift against the day's reference window
(:func:`~receval.monitoring.rolling.rolling_drift_table` on the score: PSI, Jensen-Shannon,
KS) and, beside it, the day's click rate on mature labels and calibration ratio with its
interval and alert status, read from ``fct_online_auc`` (label ``click``, daily rows) so the
two marts never disagree on them.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from receval.monitoring.marts import _as_table, _column_codes, _segment_column
from receval.monitoring.rolling import rolling_drift_table

__all__ = ["prediction_drift_table", "prediction_drift_schema"]

DAY = "impression_date"
KEYS = (DAY, "model_id", "segment_type", "segment")
QUANTILES = {"score_p10": 0.1, "score_p50": 0.5, "score_p90": 0.9}
# fct_online_auc column -> fct_prediction_drift column
CALIBRATION = {"label_rate": "click_rate", "calibration_ratio": "calibration_ratio",
               "calibration_ci_low": "calibration_ci_low", "calibration_ci_high": "calibration_ci_high",
               "reference_calibration_ratio": "reference_calibration_ratio",
               "calibration_status": "calibration_status"}


def prediction_drift_schema() -> Any:
    """The Arrow schema of :func:`prediction_drift_table`."""
    import pyarrow as pa

    return pa.schema([
        pa.field(DAY, pa.date32(), nullable=False),
        pa.field("model_id", pa.string(), nullable=False),
        pa.field("segment_type", pa.string(), nullable=False),
        pa.field("segment", pa.string(), nullable=False),
        pa.field("period", pa.string()),
        pa.field("reference_start_date", pa.date32()),
        pa.field("reference_end_date", pa.date32()),
        pa.field("n_reference_days", pa.int64(), nullable=False),
        pa.field("n_impressions", pa.int64(), nullable=False),
        pa.field("n_reference", pa.int64(), nullable=False),
        pa.field("score_mean", pa.float64()),
        *(pa.field(name, pa.float64()) for name in QUANTILES),
        pa.field("psi", pa.float64()),
        pa.field("js_distance", pa.float64()),
        pa.field("ks_statistic", pa.float64()),
        pa.field("ks_p_value", pa.float64()),
        pa.field("psi_warn", pa.float64(), nullable=False),
        pa.field("psi_alert", pa.float64(), nullable=False),
        pa.field("status", pa.string(), nullable=False),
        *(pa.field(name, pa.string() if name == "calibration_status" else pa.float64())
          for name in CALIBRATION.values()),
    ])


def _score_stats(rows: Any, segments: Sequence[str]) -> Any:
    """Count, mean and the QUANTILES (``numpy.quantile``'s linear interpolation) of the
    score per day x model x segment, one sort per segment type."""
    import pyarrow as pa

    score = rows.column("score").to_numpy()
    parts = []
    for segment_type in ("all", *segments):
        seg_col = _segment_column(rows, segment_type)
        codes, n_groups = _column_codes([rows.column(DAY), rows.column("model_id"), seg_col])
        order = np.lexsort((score, codes))
        counts = np.bincount(codes, minlength=n_groups)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        first = order[starts]
        sorted_scores = score[order]
        stats = {"n_impressions": counts, "score_mean": np.bincount(codes, score, n_groups) / counts}
        for name, q in QUANTILES.items():
            pos = q * (counts - 1)
            lo = np.floor(pos).astype(np.int64)
            hi = np.minimum(lo + 1, counts - 1)
            below, above = sorted_scores[starts + lo], sorted_scores[starts + hi]
            stats[name] = below + (pos - lo) * (above - below)
        parts.append(pa.table({
            DAY: rows.column(DAY).take(first), "model_id": rows.column("model_id").take(first),
            "segment_type": pa.array([segment_type] * n_groups, pa.string()),
            "segment": seg_col.take(first).cast(pa.string()), **stats}))
    return pa.concat_tables(parts)


def prediction_drift_table(rows: Any, windows: Any, online_auc: Any, *, segments: Sequence[str] = (),
                           min_reference_days: int = 1, min_rows: int = 1, n_bins: int = 10, epsilon: float = 1e-4,
                           warn: float = 0.1, alert: float = 0.25) -> Any:
    """One row per day x serving model x segment: the served score's distribution, its
    drift against the day's reference window, and the calibration columns of
    ``fct_online_auc`` for the same cell.

    Parameters
    ----------
    rows : pyarrow.Table or pandas.DataFrame
        ``int_monitoring__served_impressions``: ``impression_date``, ``model_id``, the
        ``segments`` columns and ``score``; rows without a score are left out.
    windows : pyarrow.Table or pandas.DataFrame
        ``int_monitoring__reference_windows``.
    online_auc : pyarrow.Table or pandas.DataFrame
        ``fct_online_auc``; its daily ``click`` rows give the calibration columns (null
        where it has no such row).
    segments, min_reference_days, min_rows, n_bins, epsilon, warn, alert
        As :func:`~receval.monitoring.rolling.rolling_drift_table` (``segments``: var
        ``monitoring_prediction_segments``; the KS p-value by Kolmogorov's limit beyond
        10,000 values a side).

    Returns
    -------
    pyarrow.Table
        Schema :func:`prediction_drift_schema`, sorted by day, model and segment;
        ``status`` is the drift's (``warm_up`` / ``ok`` / ``warn`` / ``alert``). Empty
        (same schema) without scores.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    schema = prediction_drift_schema()
    rows = _as_table(rows, "rows")
    segments = list(segments or [])
    for col in (DAY, "model_id", "score", *segments):
        if col not in rows.column_names:
            raise ValueError(f"`rows` has no column `{col}`")
    rows = rows.select([DAY, "model_id", *segments, "score"]).filter(pc.is_valid(rows.column("score")))
    if rows.num_rows == 0:
        return schema.empty_table()
    drift = rolling_drift_table(rows, {"score": "numeric"}, day=DAY, windows=windows, by=["model_id"],
                                segments=segments, min_reference_days=min_reference_days, min_rows=min_rows, n_bins=n_bins,
                                epsilon=epsilon, warn=warn, alert=alert, ks_p_value="limit")
    drift = drift.rename_columns([{"statistic": "ks_statistic", "p_value": "ks_p_value"}.get(c, c)
                                  for c in drift.column_names])
    out = drift.join(_score_stats(rows, segments), list(KEYS), join_type="left outer")
    online = _as_table(online_auc, "online_auc")
    daily_clicks = pc.and_(pc.equal(online.column("label"), "click"), pc.equal(online.column("grain"), "day"))
    calibration = online.filter(daily_clicks).select([*KEYS, *CALIBRATION])
    out = out.join(calibration.rename_columns([CALIBRATION.get(c, c) for c in calibration.column_names]),
                   list(KEYS), join_type="left outer")
    n = out.num_rows
    out = (out.append_column("psi_warn", pa.array(np.full(n, float(warn))))
              .append_column("psi_alert", pa.array(np.full(n, float(alert)))))
    out = out.sort_by([(DAY, "ascending"), ("model_id", "ascending"), ("segment_type", "ascending"),
                       ("segment", "ascending")])
    return out.select(schema.names).cast(schema)
