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

from receval import _validation as v
from receval.monitoring.days import EPOCH, day_numbers
from receval.monitoring.drift import KINDS
from receval.monitoring.marts import _as_reader, _as_table
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
                       alert: float = 0.25, ks_p_value: str = "limit", read_values: int | None = None) -> Any:
    """``fct_feature_drift``: :func:`rolling_drift_table` of the warehouse's point-in-time
    features and of the served features, one row per day x source x segment type x
    segment x feature.

    Parameters
    ----------
    warehouse, served : pyarrow.Table, pandas.DataFrame or receval.warehouse.ColumnReader
        Rows with ``impression_date``, the ``segments`` columns and the features:
        ``int_features__impressions`` (source ``warehouse``) and
        ``int_monitoring__served_feature_values`` (source ``served``; may be empty).
        A :class:`~receval.warehouse.ColumnReader` is read a few features at a time
        (``read_values``).
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
    read_values : int, optional
        Var ``monitoring_drift_read_values``: the most feature values (rows x features)
        one read of a source holds, at least one feature per read; None reads every
        feature at once. Each read is its own :func:`rolling_drift_table` call (the
        day and segment keys are counted again per read), so the rows are the same
        whatever the batches; only memory and time change.

    Returns
    -------
    pyarrow.Table
        Schema :func:`feature_drift_mart_schema`: the :func:`rolling_drift_table` columns
        with ``source``, ``window_days`` and the thresholds ``psi_warn`` /
        ``psi_alert``, sorted by day, source, segment type (``all`` first, then as
        listed), segment and feature (as listed).

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
    readers = {"warehouse": _as_reader(warehouse, "warehouse"), "served": _as_reader(served, "served")}
    specs = {source: _feature_specs({"features": features, "served_features": served_features}[arg], arg)
             for source, (_, arg) in SOURCES.items()}
    if read_values is not None:
        read_values = v.check_int(read_values, "read_values", minimum=1)
    for source, (rows_arg, arg) in SOURCES.items():
        cols = readers[source].column_names
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
    st_rank = {t: i for i, t in enumerate(["all", *segments])}
    parts = []
    for source_rank, (source, spec) in enumerate(specs.items()):
        names = list(spec)
        f_rank = {name: i for i, name in enumerate(names)}
        per_read = max(len(names), 1)
        if read_values is not None and names:
            per_read = max(1, min(per_read, read_values // max(readers[source].num_rows(), 1)))
        for at in range(0, len(names), per_read):
            batch = names[at:at + per_read]
            out = rolling_drift_table(
                readers[source].read([DAY, *segments, *batch]), {name: spec[name][0] for name in batch},
                day=DAY, windows=win, segments=segments,
                first_days={name: start + dt.timedelta(days=spec[name][1]) for name in batch},
                min_reference_days=min_reference_days, min_rows=min_rows, n_bins=n_bins, epsilon=epsilon,
                warn=warn, alert=alert, ks_p_value=ks_p_value)
            feature = out.column("feature").to_pylist()
            n = len(feature)
            extra = {
                "source": pa.array([source] * n, pa.string()),
                "window_days": pa.array([spec[f][1] for f in feature], pa.int64()),
                "psi_warn": pa.array(np.full(n, float(warn))),
                "psi_alert": pa.array(np.full(n, float(alert))),
                # ranks for the order of one call over every feature, whatever the batches
                "_source": pa.array(np.full(n, source_rank)),
                "_segment_type": pa.array(np.array([st_rank[t] for t in out.column("segment_type").to_pylist()],
                                                   dtype=np.int64)),
                "_feature": pa.array(np.array([f_rank[f] for f in feature], dtype=np.int64)),
            }
            for name, column in extra.items():
                out = out.append_column(name, column)
            parts.append(out)
    if not parts:
        return schema.empty_table()
    out = pa.concat_tables(parts)
    keys = [DAY, "_source", "_segment_type", "segment", "_feature"]
    return out.take(pc.sort_indices(out, sort_keys=[(k, "ascending") for k in keys])).select(schema.names).cast(schema)
