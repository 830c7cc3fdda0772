r"""The drift of every feature in every group of a frame, as one Arrow table:
:func:`drift_table` (the drift marts' one package call) and its schema
(:func:`drift_schema`). Each row is what :func:`~receval.monitoring.feature_drift`
computes on the group's rows.

What the mart passes
--------------------
:func:`drift_table` takes the *raw values* (one row per served request or item, with
the day and segment columns), not pre-aggregated bin counts: the KS statistic is only
exact on raw values, and the PSI / JS counts come out of the same per-group sort for
free. On one machine that is cheap (2.6M rows x 20 features in seconds, see
docs/monitoring.md). An engine that cannot ship raw rows can count the rows per bin in
SQL with the edges of :func:`reference_bins` and call :func:`psi`,
:func:`jensen_shannon_distance`, :func:`chi_square_test` and :func:`ks_from_counts`
(the KS statistic on the bin grid, a lower bound of the raw one) on the counts.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from receval import _validation as v
from receval.monitoring.binning import _counts_sorted, _edges_from_finite
from receval.monitoring.drift import KINDS, _check_thresholds, _status
from receval.monitoring.two_sample import (
    KS_EXACT_MAX_N,
    _check_epsilon,
    _chi2_rows,
    _js_rows,
    _ks,
    _ks_asymp_pvalue,
    _ks_statistic_sorted,
    _psi_rows,
    _run_ends,
)

__all__ = ["drift_table", "drift_schema"]


def drift_schema(by_fields: Sequence[Any] = ()) -> Any:
    """The Arrow schema of :func:`drift_table`: the ``by`` fields, then the drift columns."""
    import pyarrow as pa

    return pa.schema(list(by_fields) + [
        pa.field("feature", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("n_reference", pa.int64(), nullable=False),
        pa.field("n_current", pa.int64(), nullable=False),
        pa.field("n_missing_reference", pa.int64(), nullable=False),
        pa.field("n_missing_current", pa.int64(), nullable=False),
        pa.field("n_bins", pa.int64(), nullable=False),
        pa.field("psi", pa.float64()),
        pa.field("js_distance", pa.float64()),
        pa.field("test", pa.string(), nullable=False),
        pa.field("statistic", pa.float64()),
        pa.field("p_value", pa.float64()),
        pa.field("status", pa.string(), nullable=False),
    ])


def _as_table(x: Any, name: str) -> Any:
    import pyarrow as pa

    if isinstance(x, pa.Table):
        return x
    if isinstance(x, pa.RecordBatchReader):
        return x.read_all()
    if type(x).__module__.startswith("pandas"):
        return pa.Table.from_pandas(x, preserve_index=False)
    raise ValueError(f"`{name}` must be a pyarrow Table or a pandas DataFrame, got {type(x).__name__}")


def _as_reader(x: Any, name: str) -> Any:
    """``x`` as a :class:`~receval.warehouse.ColumnReader` (a table or frame is wrapped):
    what a mart reads a few columns or days at a time."""
    from receval.warehouse import ColumnReader

    return x if isinstance(x, ColumnReader) else ColumnReader(_as_table(x, name))


def _column_codes(columns: Sequence[Any]) -> tuple[np.ndarray, int]:
    """Dense codes of the rows' combined values over the given Arrow columns (all of
    one length; nulls are a value of their own): ``(codes, n_distinct)``."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(columns[0]) if columns else 0
    combined = np.zeros(n, dtype=np.int64)
    for i, col in enumerate(columns):
        arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
        enc = pc.dictionary_encode(arr)
        k = len(enc.dictionary)
        idx = enc.indices.fill_null(k).to_numpy(zero_copy_only=False).astype(np.int64)
        if i == 0 and enc.indices.null_count == 0 and not pa.types.is_dictionary(arr.type):
            # fresh indices are dense in order of first appearance: what factorize would give
            combined = idx
            continue
        combined, _ = pd.factorize(combined * (k + 1) + idx)
        combined = combined.astype(np.int64)
    if not columns:
        return combined, int(n > 0)
    return combined, int(combined.max()) + 1 if n else 0


def _segments(codes: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Row order that makes each group contiguous, and the groups' start offsets
    (``n_groups + 1`` entries)."""
    order = np.argsort(codes, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(codes, minlength=n_groups))])
    return order, bounds


def _stable_order(codes: np.ndarray, n_codes: int) -> np.ndarray:
    """Stable argsort of codes in ``[0, n_codes)``, cast to the smallest unsigned type
    that holds them: numpy radix-sorts 8/16-bit integers (O(n))."""
    for dtype in (np.uint8, np.uint16):
        if n_codes <= np.iinfo(dtype).max + 1:
            return np.argsort(codes.astype(dtype), kind="stable")
    return np.argsort(codes, kind="stable")


def _as_strings(column: Any) -> Any:
    """A column's values as strings, null as ``"unknown"`` (how segments name a null)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.fill_null(column.cast(pa.string()), "unknown")


def _segment_column(rows: Any, segment_type: str) -> Any:
    """The segment of each row for one segment type, as strings: ``"all"`` for segment
    type ``"all"`` (dictionary-encoded: one value, no per-row string to build or hash;
    cast what is taken of it), else the column's values (:func:`_as_strings`)."""
    import pyarrow as pa

    if segment_type == "all":
        return pa.DictionaryArray.from_arrays(np.zeros(rows.num_rows, np.int8), pa.array(["all"]))
    return _as_strings(rows.column(segment_type))


def _string_codes(column: Any) -> tuple[np.ndarray, Any]:
    """Dense int64 codes of a column's values as strings (:func:`_as_strings`) and the
    distinct values they number, an Arrow string array."""
    encoded = _as_strings(column).combine_chunks().dictionary_encode()
    return encoded.indices.to_numpy().astype(np.int64), encoded.dictionary


def _float_column(table: Any, name: str) -> np.ndarray:
    import pyarrow as pa

    col = table.column(name)
    try:
        col = col.cast(pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ValueError(f"feature `{name}` is declared numeric but has arrow type {col.type}") from exc
    return col.to_numpy()


def _categorical_codes(ref_col: Any, cur_col: Any, name: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Joint category codes of a reference and a current column, in the categories' sorted
    order (so the sums over bins, to the last bit, do not depend on the rows' order);
    missing = ``k``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if cur_col.type != ref_col.type:
        try:
            cur_col = cur_col.cast(ref_col.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise ValueError(f"feature `{name}` has arrow type {ref_col.type} in `reference` "
                             f"and {cur_col.type} in `current`") from exc
    both = pa.chunked_array(list(ref_col.chunks) + list(cur_col.chunks), type=ref_col.type)
    arr = both.combine_chunks()
    enc = pc.dictionary_encode(arr)
    k = len(enc.dictionary)
    rank = np.empty(k + 1, dtype=np.int64)
    rank[pc.array_sort_indices(enc.dictionary).to_numpy()] = np.arange(k)
    rank[k] = k
    idx = rank[enc.indices.fill_null(k).to_numpy(zero_copy_only=False).astype(np.int64)]
    if pa.types.is_floating(arr.type):
        idx[np.isnan(arr.to_numpy(zero_copy_only=False))] = k
    n_ref = len(ref_col)
    return idx[:n_ref], idx[n_ref:], k + 1


def drift_table(reference: Any, current: Any, features: Mapping[str, str],
                by: Sequence[str] = (), *, reference_by: Sequence[str] = (), n_bins: int = 10,
                epsilon: float = 1e-4, warn: float = 0.1, alert: float = 0.25) -> Any:
    """Drift of every feature in every group of the current data: one row per group x
    feature, as :func:`feature_drift` computes it.

    Parameters
    ----------
    reference, current : pyarrow.Table or pandas.DataFrame
        Raw rows (one per served request / item): the reference period and the data to
        monitor. Both hold the feature columns; ``current`` holds the ``by`` columns.
    features : mapping of str to {"numeric", "categorical"}
        The feature columns and their kinds (output order).
    by : sequence of str
        Columns of ``current`` that split it into groups (e.g. ``["day", "segment"]``);
        a null is a group value of its own. Empty: one group.
    reference_by : sequence of str
        Columns among ``by`` that split the *reference* too (e.g. ``["segment"]``):
        each current group is compared with the reference rows of its own segment.
        Empty (default): every group is compared with the whole reference.
    n_bins, epsilon, warn, alert
        As in :func:`feature_drift`.

    Returns
    -------
    pyarrow.Table
        Schema :func:`drift_schema` (the ``by`` fields with their types from
        ``current``), rows sorted by the ``by`` values, then features in the given
        order; empty (same schema) when ``current`` has no row. A group whose
        reference segment has no row gets ``status == "no_data"``.

    Notes
    -----
    Speed: the bins (and the sorted reference for KS) are computed once per feature
    and reference segment; each group's values are sorted once, and the bin counts are
    a ``searchsorted`` of the edges into them; categorical counts are one ``bincount``
    per feature. No Python loop runs over rows.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    ref = _as_table(reference, "reference")
    cur = _as_table(current, "current")
    if not isinstance(features, Mapping):
        raise ValueError("`features` must be a mapping {column: 'numeric' | 'categorical'}")
    for name, kind in features.items():
        if kind not in KINDS:
            raise ValueError(f"`features[{name!r}]` must be one of {KINDS}, got {kind!r}")
        for tname, t in (("reference", ref), ("current", cur)):
            if name not in t.column_names:
                raise ValueError(f"feature `{name}` is not a column of `{tname}`")
    by, reference_by = list(by), list(reference_by)
    for col in by:
        if col not in cur.column_names:
            raise ValueError(f"`by` column `{col}` is not a column of `current`")
    for col in reference_by:
        if col not in by:
            raise ValueError(f"`reference_by` column `{col}` must also be in `by`")
        if col not in ref.column_names:
            raise ValueError(f"`reference_by` column `{col}` is not a column of `reference`")
    n_bins = v.check_int(n_bins, "n_bins", minimum=1)
    eps = _check_epsilon(epsilon)
    warn, alert = _check_thresholds(warn, alert)
    if ref.num_rows == 0:
        raise ValueError("`reference` has no row: drift needs a reference sample")

    by_fields = [cur.schema.field(c) for c in by]
    schema = drift_schema(by_fields)
    if cur.num_rows == 0 or not features:
        return schema.empty_table()

    # groups of the current rows, in the order of their sorted keys
    codes, n_groups = _column_codes([cur.column(c) for c in by])
    order, bounds = _segments(codes, n_groups)
    keys = cur.select(by).take(pa.array(order[bounds[:-1]])) if by else None
    if by:
        group_order = pc.sort_indices(
            keys, sort_keys=[(c, "ascending", "at_end") for c in by]).to_numpy()
    else:
        group_order = np.arange(n_groups)

    # reference segment of each reference row and of each current group
    if reference_by:
        joint = []
        for c in reference_by:
            rc_, cc_ = ref.column(c), cur.column(c)
            if rc_.type != cc_.type:
                try:
                    rc_ = rc_.cast(cc_.type)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise ValueError(f"`reference_by` column `{c}` has arrow type {rc_.type} in "
                                     f"`reference` and {cc_.type} in `current`") from exc
            joint.append(pa.chunked_array(list(rc_.chunks) + list(cc_.chunks), type=cc_.type))
        seg, n_seg = _column_codes(joint)
        ref_seg = seg[: ref.num_rows]
        group_seg = seg[ref.num_rows:][order[bounds[:-1]]]
    else:
        n_seg = 1
        ref_seg = np.zeros(ref.num_rows, dtype=np.int64)
        group_seg = np.zeros(n_groups, dtype=np.int64)
    ref_order, ref_bounds = _segments(ref_seg, n_seg)
    sizes = np.diff(bounds)

    n_feat = len(features)
    out = {k: np.empty((n_groups, n_feat), dtype=dt) for k, dt in (
        ("n_reference", np.int64), ("n_missing_reference", np.int64),
        ("n_missing_current", np.int64), ("n_bins", np.int64), ("psi", np.float64),
        ("js_distance", np.float64), ("statistic", np.float64), ("p_value", np.float64))}
    for j, (name, kind) in enumerate(features.items()):
        if kind == "numeric":
            xr = _float_column(ref, name)[ref_order]
            xc = _float_column(cur, name)[order]
            d = np.full(n_groups, np.nan)
            p = np.full(n_groups, np.nan)
            for s in range(n_seg):
                groups = np.flatnonzero(group_seg == s)
                if groups.size == 0:
                    continue
                rs = np.sort(xr[ref_bounds[s]:ref_bounds[s + 1]])
                rm = int(np.searchsorted(rs, np.nan, side="left"))
                rs = rs[:rm]
                r_end = _run_ends(rs)
                edges = _edges_from_finite(rs[np.isfinite(rs)], n_bins)
                rcount = _counts_sorted(rs, edges, ref_bounds[s + 1] - ref_bounds[s] - rm)
                ccount = np.empty((groups.size, edges.size), dtype=np.int64)
                n_fin = np.zeros(groups.size, dtype=np.int64)
                for i, g in enumerate(groups):
                    cs = np.sort(xc[bounds[g]:bounds[g + 1]])
                    cm = int(np.searchsorted(cs, np.nan, side="left"))
                    cs = cs[:cm]
                    n_fin[i] = cm
                    ccount[i] = _counts_sorted(cs, edges, sizes[g] - cm)
                    if cm and rm:
                        if max(cm, rm) <= KS_EXACT_MAX_N:
                            d[g], p[g], _ = _ks(rs, cs, "exact")
                        else:
                            d[g] = _ks_statistic_sorted(rs, cs, r_end)
                big = (n_fin > 0) & (rm > 0) & (np.maximum(n_fin, rm) > KS_EXACT_MAX_N)
                if big.any():
                    gb = groups[big]
                    p[gb] = _ks_asymp_pvalue(d[gb], rm, n_fin[big])
                _fill(out, j, groups, rcount, ccount, eps)
                out["statistic"][groups, j] = d[groups]
                out["p_value"][groups, j] = p[groups]
        else:
            rcode, ccode, k = _categorical_codes(ref.column(name), cur.column(name), name)
            rtab = np.bincount(ref_seg * k + rcode, minlength=n_seg * k).reshape(n_seg, k)
            ctab = np.bincount(codes * k + ccode, minlength=n_groups * k).reshape(n_groups, k)
            for s in range(n_seg):
                groups = np.flatnonzero(group_seg == s)
                if groups.size == 0:
                    continue
                _fill(out, j, groups, rtab[s], ctab[groups], eps)
                stat, pv, _ = _chi2_rows(rtab[s], ctab[groups])
                out["statistic"][groups, j] = stat
                out["p_value"][groups, j] = pv

    # assemble: groups in key order, features in the given order
    g_idx = np.repeat(group_order, n_feat)
    f_idx = np.tile(np.arange(n_feat), n_groups)
    names = list(features)
    kinds = [features[f] for f in names]
    psi_v = out["psi"][g_idx, f_idx]
    status = [_status(x, warn, alert) for x in psi_v.tolist()]
    cols: dict[str, Any] = {}
    if by:
        taken = keys.take(pa.array(g_idx))
        for c in by:
            cols[c] = taken.column(c)
    cols.update({
        "feature": pa.array([names[i] for i in f_idx.tolist()], pa.string()),
        "kind": pa.array([kinds[i] for i in f_idx.tolist()], pa.string()),
        "n_reference": out["n_reference"][g_idx, f_idx],
        "n_current": sizes[g_idx].astype(np.int64),
        "n_missing_reference": out["n_missing_reference"][g_idx, f_idx],
        "n_missing_current": out["n_missing_current"][g_idx, f_idx],
        "n_bins": out["n_bins"][g_idx, f_idx],
        "psi": psi_v,
        "js_distance": out["js_distance"][g_idx, f_idx],
        "test": pa.array(["ks" if k == "numeric" else "chi2" for k in (kinds[i] for i in f_idx.tolist())],
                         pa.string()),
        "statistic": out["statistic"][g_idx, f_idx],
        "p_value": out["p_value"][g_idx, f_idx],
        "status": pa.array(status, pa.string()),
    })
    arrays = [cols[f.name] if isinstance(cols[f.name], (pa.Array, pa.ChunkedArray))
              else pa.array(cols[f.name], f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def _fill(out: dict[str, np.ndarray], j: int, groups: np.ndarray, rcount: np.ndarray,
          ccount: np.ndarray, eps: float) -> None:
    """Counts-based columns of feature ``j`` for ``groups`` sharing one reference."""
    out["n_reference"][groups, j] = int(rcount.sum())
    out["n_missing_reference"][groups, j] = int(rcount[-1])
    out["n_missing_current"][groups, j] = ccount[:, -1]
    out["n_bins"][groups, j] = ((rcount[None, :] > 0) | (ccount > 0)).sum(axis=1)
    out["psi"][groups, j] = _psi_rows(rcount, ccount, eps)
    out["js_distance"][groups, j] = _js_rows(rcount, ccount)
