"""``fct_feature_drift``: :func:`feature_drift_mart`, the mart's one package call (and its
schema, :func:`feature_drift_mart_schema`): the dbt vars listing the warehouse's and the
served features are checked, and each source's rows go through
:func:`~receval.monitoring.rolling.rolling_drift_table`, every feature monitored from the
data's first day plus its ``window_days`` on.

(Not named ``feature_drift``: that is the package's per-feature function,
:func:`receval.monitoring.feature_drift`, which a submodule of that name would shadow.)
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Mapping, Sequence

import numpy as np

from receval.monitoring.days import EPOCH, day_numbers
from receval.monitoring.drift import KINDS
from receval.monitoring.marts import _as_table
from receval.monitoring.rolling import rolling_drift_schema, rolling_drift_table

__all__ = ["feature_drift_mart", "feature_drift_mart_schema"]

#: the dbt var behind each argument of :func:`feature_drift_mart` (named in its errors)
MART_VARS = {"features": "monitoring_features", "served_features": "monitoring_served_features",
             "segments": "monitoring_feature_segments"}
#: the mart's sources: (argument holding the rows, argument listing their features)
SOURCES = {"warehouse": ("warehouse", "features"), "served": ("served", "served_features")}
DAY = "impression_date"


def feature_drift_mart_schema() -> Any:
    """The Arrow schema of :func:`feature_drift_mart` (``fct_feature_drift``)."""
    import pyarrow as pa

    fields = list(rolling_drift_schema(DAY))
    fields.insert(1, pa.field("source", pa.string(), nullable=False))
    at = [f.name for f in fields].index("kind") + 1
    fields.insert(at, pa.field("window_days", pa.int64(), nullable=False))
    return pa.schema(fields + [pa.field("psi_warn", pa.float64(), nullable=False),
                               pa.field("psi_alert", pa.float64(), nullable=False)])


def _feature_specs(spec: Any, arg: str) -> dict[str, tuple[str, int]]:
    """``[{name, kind, window_days}, ...]`` as ``{name: (kind, window_days)}``; errors
    name the var and the entry."""
    var = MART_VARS[arg]
    if spec is None:
        return {}
    if isinstance(spec, (str, bytes, Mapping)) or not isinstance(spec, Sequence):
        raise ValueError(f"var {var} must be a list of {{name, kind, window_days}}, got {spec!r}")
    out: dict[str, tuple[str, int]] = {}
    for entry in spec:
        if not isinstance(entry, Mapping) or not {"name", "kind"} <= set(entry) \
                or set(entry) - {"name", "kind", "window_days"}:
            raise ValueError(f"var {var}: each entry is {{name, kind, window_days}}, got {entry!r}")
        name, kind, window = entry["name"], entry["kind"], entry.get("window_days", 0)
        if not isinstance(name, str) or not name:
            raise ValueError(f"var {var}: entry {entry!r} needs a column name")
        if kind not in KINDS:
            raise ValueError(f"var {var}: feature {name!r} has kind {kind!r}; expected one of {KINDS}")
        if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 0:
            raise ValueError(f"var {var}: feature {name!r} has window_days {window!r}; expected an integer >= 0")
        if name in out:
            raise ValueError(f"var {var}: feature {name!r} is listed twice")
        out[name] = (kind, int(window))
    return out


def feature_drift_mart(warehouse: Any, served: Any, windows: Any, *, features: Any,
                       served_features: Any, segments: Sequence[str] = (), min_reference_days: int = 1,
                       min_rows: int = 1, n_bins: int = 10, epsilon: float = 1e-4, warn: float = 0.1,
                       alert: float = 0.25, ks_p_value: str = "limit") -> Any:
    """``fct_feature_drift``: :func:`rolling_drift_table` of the warehouse's point-in-time
    features and of the served features, one row per day x source x segment type x
    segment x feature.

    Parameters
    ----------
    warehouse, served : pyarrow.Table or pandas.DataFrame
        Rows with ``impression_date``, the ``segments`` columns and the features:
        ``int_features__impressions`` (source ``warehouse``) and
        ``int_monitoring__served_feature_values`` (source ``served``; may be empty).
    windows : pyarrow.Table or pandas.DataFrame
        ``int_monitoring__reference_windows``; its first ``impression_date`` is the data's
        first day.
    features, served_features : list of {name, kind, window_days}
        Vars ``monitoring_features`` and ``monitoring_served_features``. A feature's
        first monitored day (and first reference day) is the data's first day plus its
        ``window_days``.
    segments : sequence of str
        Var ``monitoring_feature_segments``: columns of both row sets.
    min_reference_days, min_rows, n_bins, epsilon, warn, alert, ks_p_value
        As in :func:`rolling_drift_table` (``ks_p_value`` defaults to ``"limit"`` here:
        scipy's finite-n evaluation would cost the mart about a minute on the default
        world).

    Returns
    -------
    pyarrow.Table
        Schema :func:`feature_drift_mart_schema`: the :func:`rolling_drift_table` columns
        with ``source``, ``window_days`` and the thresholds ``psi_warn`` /
        ``psi_alert``, sorted by day and source.

    Raises
    ------
    ValueError
        On a bad entry of a var, or a feature or segment that is not a column of its
        rows, naming the var and the value.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    schema = feature_drift_mart_schema()
    win = _as_table(windows, "windows")
    segments = list(segments or [])
    tables = {"warehouse": _as_table(warehouse, "warehouse"), "served": _as_table(served, "served")}
    specs = {source: _feature_specs({"features": features, "served_features": served_features}[arg], arg)
             for source, (_, arg) in SOURCES.items()}
    for source, (rows_arg, arg) in SOURCES.items():
        cols = tables[source].column_names
        for name in specs[source]:
            if name not in cols:
                raise ValueError(f"var {MART_VARS[arg]}: feature {name!r} is not a column of the "
                                 f"{source} rows (`{rows_arg}`)")
        for seg in segments:
            if seg not in cols:
                raise ValueError(f"var {MART_VARS['segments']}: segment {seg!r} is not a column of the "
                                 f"{source} rows (`{rows_arg}`)")
    if win.num_rows == 0:
        return schema.empty_table()
    start = EPOCH + dt.timedelta(days=int(day_numbers(win.column(DAY), f"`windows` column `{DAY}`").min()))
    parts = []
    for source, spec in specs.items():
        if not spec:
            continue
        out = rolling_drift_table(
            tables[source], {name: kind for name, (kind, _) in spec.items()}, day=DAY, windows=win,
            segments=segments, first_days={name: start + dt.timedelta(days=w) for name, (_, w) in spec.items()},
            min_reference_days=min_reference_days, min_rows=min_rows, n_bins=n_bins, epsilon=epsilon,
            warn=warn, alert=alert, ks_p_value=ks_p_value)
        n = out.num_rows
        window = {name: w for name, (_, w) in spec.items()}
        out = out.append_column("source", pa.array([source] * n, pa.string()))
        out = out.append_column("window_days", pa.array([window[f] for f in out.column("feature").to_pylist()],
                                                        pa.int64()))
        out = out.append_column("psi_warn", pa.array(np.full(n, float(warn))))
        out = out.append_column("psi_alert", pa.array(np.full(n, float(alert))))
        parts.append(out.select(schema.names))
    if not parts:
        return schema.empty_table()
    out = pa.concat_tables(parts).cast(schema)
    return out.take(pc.sort_indices(out, sort_keys=[(DAY, "ascending"), ("source", "descending")]))
