r"""Drift of every feature against a reference window of its own for every day:
:func:`rolling_drift_table` (one row per day x segment x feature, as
:func:`~receval.monitoring.feature_drift` computes it on the explicitly filtered rows).
The ``fct_feature_drift`` mart calls it through
:func:`~receval.monitoring.features.feature_drift_mart`; the per-cell counting lives in
:mod:`~receval.monitoring.rolling_cells` (how it stays fast), the day and window
bookkeeping in :mod:`~receval.monitoring.days`.

Reference windows
-----------------
Day ``d`` is compared with the rows of the same ``by`` values and segment whose day lies
in ``[reference_start_date(d), reference_end_date(d)]`` (by default the training window of
a daily retrain, ``int_monitoring__reference_windows``) and on or after the feature's
first day: a feature that aggregates ``window_days`` of history has a truncated value over
the first ``window_days`` of the data, which is neither monitored nor a reference.

Status
------
``warm_up`` when the day is before the feature's first day or its reference holds fewer
than ``min_reference_days`` (>= 1) days with rows, an empty reference included (where
:func:`~receval.monitoring.drift_table` says ``no_data``); the statistics are still
computed whenever both samples have rows (context for the operator), but only ``ok`` /
``warn`` / ``alert`` rows are monitored. ``small_sample`` when the day's cell has fewer
than ``min_rows`` rows: PSI's sampling noise is about (bins - 1) / n (0.09 at 100 rows
and 10 bins), the size of the warn threshold itself. Else PSI's thresholds.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from receval import _validation as v
from receval.monitoring.days import as_day_number, dates, index_days
from receval.monitoring.drift import KINDS, _check_thresholds
from receval.monitoring.marts import _as_table, _float_column, drift_schema
from receval.monitoring.rolling_cells import (
    Cells,
    categorical_cells,
    dense_codes,
    dense_numeric_cells,
    segment_groups,
    sorted_numeric_cells,
)
from receval.monitoring.two_sample import _check_epsilon, _js_rows, _psi_rows

__all__ = ["ROLLING_STATUSES", "rolling_drift_schema", "rolling_drift_table"]

#: ``warm_up``: the day is before the feature's first day or its reference window holds
#: too few days with rows (an empty reference included); ``small_sample``: the day's cell
#: has too few rows for PSI to mean anything; neither is monitored
ROLLING_STATUSES = ("ok", "warn", "alert", "warm_up", "small_sample")


# ------------------------------------------------------------------------ schema
def rolling_drift_schema(day: str, by_fields: Sequence[Any] = ()) -> Any:
    """The Arrow schema of :func:`rolling_drift_table`: the day (date32), the ``by``
    fields, ``segment_type`` and ``segment``, the :func:`drift_schema` columns, then the
    reference window actually used and the window's period."""
    import pyarrow as pa

    keys = [pa.field(day, pa.date32(), nullable=False), *by_fields,
            pa.field("segment_type", pa.string(), nullable=False),
            pa.field("segment", pa.string(), nullable=False)]
    return pa.schema(list(drift_schema(keys)) + [
        pa.field("reference_start_date", pa.date32()),
        pa.field("reference_end_date", pa.date32()),
        pa.field("n_reference_days", pa.int64(), nullable=False),
        pa.field("period", pa.string()),
    ])



# ------------------------------------------------------------------------ table
def _check_features(features: Any, rows: Any) -> dict[str, str]:
    if not isinstance(features, Mapping):
        raise ValueError("`features` must be a mapping {column: 'numeric' | 'categorical'}")
    for name, kind in features.items():
        if kind not in KINDS:
            raise ValueError(f"`features[{name!r}]` must be one of {KINDS}, got {kind!r}")
        if name not in rows.column_names:
            raise ValueError(f"feature `{name}` is not a column of `rows`")
    return dict(features)


def rolling_drift_table(rows: Any, features: Mapping[str, str], *, day: str, windows: Any,
                        by: Sequence[str] = (), segments: Sequence[str] = (),
                        first_days: Mapping[str, Any] | None = None, min_reference_days: int = 1,
                        min_rows: int = 1, n_bins: int = 10, epsilon: float = 1e-4, warn: float = 0.1,
                        alert: float = 0.25, ks_p_value: str = "scipy") -> Any:
    """Drift of every feature on every day against that day's own reference window.

    Parameters
    ----------
    rows : pyarrow.Table or pandas.DataFrame
        Raw rows (one per served impression or request) with the ``day`` column, the
        ``by`` and ``segments`` columns and the feature columns.
    features : mapping of str to {"numeric", "categorical"}
        The feature columns and their kinds (output order).
    day : str
        The date column of ``rows`` and of ``windows``.
    windows : pyarrow.Table or pandas.DataFrame
        One row per day (at least every day of ``rows``): ``day``,
        ``reference_start_date``, ``reference_end_date`` (inclusive) and ``period``
        (reported as is), as ``int_monitoring__reference_windows``.
    by : sequence of str
        Columns that split the rows into fixed groups (e.g. ``model_id``): a group is
        compared with the reference rows of its own ``by`` values.
    segments : sequence of str
        Segment columns. Every group is reported over all its rows (``segment_type``
        ``"all"``, ``segment`` ``"all"``) and per value of each segment column
        (``segment_type`` the column, ``segment`` its value as a string, null as
        ``"unknown"``), each against the reference rows of the same segment.
    first_days : mapping of str to date, optional
        Per feature, its first day with a complete value (``datetime.date`` or ISO
        string; missing or None: no warm-up). Earlier days are neither monitored nor in
        any reference.
    min_reference_days : int
        Fewer days with rows in the reference (on or after the first day) make the row
        ``warm_up``.
    min_rows : int
        Fewer rows in the day's cell (missing values included) make it ``small_sample``.
    n_bins, epsilon, warn, alert
        As in :func:`~receval.monitoring.feature_drift`.
    ks_p_value : {"scipy", "limit"}
        The KS p-value when a sample has more than 10,000 values (below, both use the
        exact null distribution, as ``scipy.stats.ks_2samp``). ``"scipy"``: as
        :func:`~receval.monitoring.feature_drift` and ``ks_2samp(method="auto")``,
        ``kstwo.sf(D, round(nm / (n + m)))``, whose evaluation costs up to ~60 ms per
        row at tens of thousands of values (Durbin's matrix or the exact Smirnov sum).
        ``"limit"``: Kolmogorov's limiting distribution ``kstwobign.sf(D sqrt(nm /
        (n + m)))`` (Smirnov 1948; R's ``ks.test`` for large samples), vectorised; it
        differs from the former by O(1/sqrt(nm / (n + m))).

    Returns
    -------
    pyarrow.Table
        Schema :func:`rolling_drift_schema`: one row per day x ``by`` values x segment
        type x segment with rows x feature, sorted in that order (segment type ``all``
        first, then as listed), features in the given order; ``psi``, ``js_distance``,
        ``statistic``, ``p_value``, counts and ``n_bins`` equal
        :func:`~receval.monitoring.feature_drift` of the reference rows
        (``reference_start_date`` .. ``reference_end_date``: the window from the
        feature's first day on) and the day's rows. ``n_reference_days``: days of that
        window with rows of the group. ``status``: ``warm_up`` (the day is before the
        feature's first day, or ``n_reference_days < min_reference_days``; statistics
        still computed when both samples have rows; an empty reference is warm-up), else
        ``ok`` / ``warn`` / ``alert`` by PSI. Empty, with the same schema, when
        ``rows`` has no row.

    Raises
    ------
    ValueError
        On a missing column, a bad kind or parameter, a day of ``rows`` without a
        window, naming it.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    tab = _as_table(rows, "rows")
    features = _check_features(features, tab)
    by, segments = list(by), list(segments)
    for what, cols in (("day", [day]), ("by", by), ("segments", segments)):
        for c in cols:
            if c not in tab.column_names:
                raise ValueError(f"`{what}` column `{c}` is not a column of `rows`")
    if "all" in segments or len(set(segments)) != len(segments):
        raise ValueError(f"`segments` must be distinct columns other than 'all', got {segments}")
    first_days = dict(first_days or {})
    for name in first_days:
        if name not in features:
            raise ValueError(f"`first_days` names `{name}`, which is not in `features`")
    min_reference_days = v.check_int(min_reference_days, "min_reference_days", minimum=1)
    min_rows = v.check_int(min_rows, "min_rows", minimum=1)
    if ks_p_value not in ("scipy", "limit"):
        raise ValueError(f"`ks_p_value` must be 'scipy' or 'limit', got {ks_p_value!r}")
    n_bins = v.check_int(n_bins, "n_bins", minimum=1)
    eps = _check_epsilon(epsilon)
    warn, alert = _check_thresholds(warn, alert)
    schema = rolling_drift_schema(day, [tab.schema.field(c) for c in by])
    if tab.num_rows == 0 or not features:
        return schema.empty_table()

    d0, day_idx, n_days, win = index_days(tab.column(day), f"`rows` column `{day}`", windows, day)
    first_idx = {name: (as_day_number(first_days[name], f"first_days[{name!r}]") - d0
                        if first_days.get(name) is not None else -(1 << 40)) for name in features}
    groups = [segment_groups(tab, by, segment_type, day_idx, n_days) for segment_type in ["all", *segments]]
    max_cells = n_days * max(g.n_keys for g in groups)

    parts = []
    for f_rank, (name, kind) in enumerate(features.items()):
        # the window from the feature's first day on, as day indexes clipped to the data
        start = np.maximum(win.start, first_idx[name])
        lo, hi = np.clip(start, 0, n_days), np.clip(win.end, -1, n_days - 1)
        if kind == "numeric":
            x = _float_column(tab, name) + 0.0   # -0.0 is 0.0
            dense = dense_codes(x, max_cells)
            if dense is None:
                order = np.argsort(x)[: int((~np.isnan(x)).sum())]
        for st_rank, g in enumerate(groups):
            cell_t, cell_k = np.nonzero(g.n_rows)
            if kind == "categorical":
                cells = categorical_cells(tab.column(name), name, g, cell_t, cell_k, lo, hi)
            elif dense is not None:
                cells = dense_numeric_cells(*dense, g, cell_t, cell_k, lo, hi, n_bins, ks_p_value)
            else:
                cells = sorted_numeric_cells(x, order, g, cell_t, cell_k, lo, hi, n_bins, ks_p_value)
            cl, ch = lo[cell_t], hi[cell_t]
            n_ref_days = np.where(cl <= ch, g.days_with_rows[np.maximum(ch + 1, 0), cell_k]
                                  - g.days_with_rows[np.minimum(cl, n_days), cell_k], 0)
            warm = (cell_t < first_idx[name]) | (n_ref_days < min_reference_days)
            columns = _feature_rows(cells, name, kind, warm, min_rows, eps, warn, alert)
            keys = g.keys.take(pa.array(cell_k))
            columns.update({c: keys.column(c) for c in by})
            no_window = start[cell_t] > win.end[cell_t]
            columns.update({
                day: dates(d0 + cell_t, np.zeros(cell_t.size, dtype=bool)),
                "segment_type": pa.array([g.segment_type] * cell_t.size, pa.string()),
                "segment": keys.column("segment"),
                "reference_start_date": dates(start[cell_t] + d0, no_window),
                "reference_end_date": dates(win.end[cell_t] + d0, no_window),
                "n_reference_days": n_ref_days.astype(np.int64),
                "period": pa.array([win.period[t] for t in cell_t.tolist()], pa.string()),
                "_segment_type": np.full(cell_t.size, st_rank, dtype=np.int64),
                "_feature": np.full(cell_t.size, f_rank, dtype=np.int64),
            })
            parts.append(pa.table(columns))
    out = pa.concat_tables(parts)
    sort_keys = [(c, "ascending", "at_end") for c in (day, *by, "_segment_type", "segment", "_feature")]
    out = out.take(pc.sort_indices(out, sort_keys=sort_keys))
    return out.select(schema.names).cast(schema)



def _nullable(x: np.ndarray) -> Any:
    """Undefined statistics (NaN) as SQL nulls."""
    import pyarrow as pa

    return pa.array(x, pa.float64(), from_pandas=True)


def _feature_rows(cells: Cells, name: str, kind: str, warm: np.ndarray, min_rows: int, eps: float,
                  warn: float, alert: float) -> dict[str, Any]:
    """The drift columns of one feature's cells. Status: warm-up first, then a small
    sample; a cell that is neither has rows on both sides, so PSI is finite."""
    import pyarrow as pa

    r, c = cells.rcount, cells.ccount
    n = r.shape[0]
    psi = _psi_rows(r, c, eps)
    status = np.where(warm, "warm_up", np.where(
        c.sum(axis=1) < min_rows, "small_sample",
        np.where(psi >= alert, "alert", np.where(psi >= warn, "warn", "ok"))))
    return {
        "feature": pa.array([name] * n, pa.string()),
        "kind": pa.array([kind] * n, pa.string()),
        "n_reference": r.sum(axis=1),
        "n_current": c.sum(axis=1),
        "n_missing_reference": r[:, -1],
        "n_missing_current": c[:, -1],
        "n_bins": ((r > 0) | (c > 0)).sum(axis=1),
        "psi": _nullable(psi),
        "js_distance": _nullable(_js_rows(r, c)),
        "test": pa.array(["ks" if kind == "numeric" else "chi2"] * n, pa.string()),
        "statistic": _nullable(cells.statistic),
        "p_value": _nullable(cells.p_value),
        "status": pa.array(status.tolist(), pa.string()),
    }

