r"""The counting engines of :func:`~receval.monitoring.rolling.rolling_drift_table`: the
rows of one segment type split into (day, key) cells (:class:`Groups`), and per feature
the reference and current counts, the KS or chi-square test of every current cell against
its day's reference window (:func:`sorted_numeric_cells`, :func:`dense_numeric_cells`,
:func:`categorical_cells`, all returning :class:`Cells`).

How it stays fast
-----------------
The windows overlap (28 days sliding one day), so nothing is re-sorted per day. Per
feature and segment type the non-missing values are sorted once and replaced by their
*rank among the distinct values of their key* (``by`` values and segment), the keys'
ranks contiguous. The reference window is a vector ``W`` of counts per rank, moved from
day to day by adding the day that enters and removing the one that leaves; one cumulative
sum of ``W`` per day then gives, for every key at once, the reference's order statistics
(its quantile bin edges, as ``numpy.quantile`` interpolates them), its counts per bin and
its ECDF at the current day's values (the exact KS statistic, as
:func:`~receval.monitoring.two_sample._ks_statistic_sorted` evaluates it). Categorical
counts per day are summed over the window by a cumulative sum over days. Only a reference
of at most 10,000 values is materialised, for scipy's exact KS p-value.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from receval.monitoring.binning import _counts_sorted
from receval.monitoring.marts import _categorical_codes, _column_codes, _segment_column, _stable_order
from receval.monitoring.two_sample import KS_EXACT_MAX_N, _chi2_rows, _ks, _ks_asymp_pvalue

__all__ = ["DENSE_MAX_CELLS", "Cells", "Groups", "categorical_cells", "dense_codes",
           "dense_numeric_cells", "segment_groups", "sorted_numeric_cells"]


# ------------------------------------------------------------------------ cells
@dataclass
class Groups:
    """The rows of one segment type split by key (``by`` values and segment) and day."""
    segment_type: str
    key: np.ndarray       # key code of each row
    n_keys: int
    keys: Any             # Arrow table: the by columns and `segment`, one row per key code
    cell: np.ndarray      # day index * n_keys + key code, per row
    n_rows: np.ndarray    # (n_days, n_keys) rows per day and key
    days_with_rows: np.ndarray   # (n_days + 1, n_keys) days with rows before each day


def segment_groups(rows: Any, by: list[str], segment_type: str, day_idx: np.ndarray, n_days: int) -> Groups:
    """The rows' keys (the ``by`` values and the segment of ``segment_type``) and their
    (day, key) cells; ``day_idx``: each row's day index in ``[0, n_days)``."""
    import pyarrow as pa

    n = rows.num_rows
    segment = _segment_column(rows, segment_type)
    key, n_keys = _column_codes([rows.column(c) for c in by] + [segment])
    first = np.empty(n_keys, dtype=np.int64)
    first[key[::-1]] = np.arange(n)[::-1]
    take = pa.array(first)
    keys = pa.table({**{c: rows.column(c).take(take) for c in by}, "segment": segment.take(take).cast(pa.string())})
    cell = day_idx * n_keys + key
    n_rows = np.bincount(cell, minlength=n_days * n_keys).reshape(n_days, n_keys)
    days_with_rows = np.zeros((n_days + 1, n_keys), dtype=np.int64)
    np.cumsum(n_rows > 0, axis=0, out=days_with_rows[1:])
    return Groups(segment_type, key, n_keys, keys, cell, n_rows, days_with_rows)


# ------------------------------------------------------------------------ numeric
#: a numeric feature is counted per (day, key, distinct value) when that table has at
#: most this many cells, else its values are sorted (:func:`sorted_numeric_cells`)
DENSE_MAX_CELLS = 1 << 22


def dense_codes(x: np.ndarray, max_cells: int) -> tuple[np.ndarray, np.ndarray] | None:
    """``(codes, sorted distinct values)`` of ``x`` (missing: ``len(values)``) when
    ``(len(values) + 1) * max_cells <= DENSE_MAX_CELLS``, else None (a strided sample
    rules out the many-valued features before the full hash)."""
    import pandas as pd

    limit = DENSE_MAX_CELLS // max_cells - 1
    if limit < 1 or pd.unique(x[:: max(1, x.size // 100_000)]).size > limit:
        return None
    codes, uniq = pd.factorize(x)
    if uniq.size > limit:
        return None
    order = np.argsort(uniq)
    rank = np.empty(uniq.size + 1, dtype=np.int64)
    rank[order] = np.arange(uniq.size)
    rank[-1] = uniq.size                   # pandas codes missing as -1
    return rank[codes], np.asarray(uniq, dtype=np.float64)[order]


def _quantiles_from_order_stats(value_at, nf: int, q: np.ndarray) -> np.ndarray:
    """``numpy.quantile(x, q)`` (method linear) of a sorted sample of ``nf`` values given
    only ``value_at(ranks)``, its order statistics: numpy's virtual index ``(nf - 1) q``
    and its two-sided interpolation ``_lerp``, so that the edges are the same floats."""
    vi = (nf - 1) * q
    lo = np.floor(vi)
    above = vi >= nf - 1
    i_lo = np.where(above, nf - 1, lo).astype(np.int64)
    i_hi = np.where(above, nf - 1, lo + 1).astype(np.int64)
    a, b = value_at(i_lo), value_at(i_hi)
    t = vi - lo
    diff = b - a
    return np.where(t >= 0.5, b - diff * (1 - t), a + diff * t)


def _reference_edges(vals: np.ndarray, w: np.ndarray, cum: np.ndarray, q: np.ndarray) -> np.ndarray:
    """:func:`~receval.monitoring.binning._edges_from_finite` of the reference sample whose
    distinct sorted values are ``vals`` with counts ``w`` (``cum``: the running count
    before each value, and the total last), without ties merged (a tied edge is an
    empty bin, which the statistics drop): ``len(q) + 2`` edges."""
    n_neg = int(w[0]) if vals[0] == -np.inf else 0
    n_pos = int(w[-1]) if vals[-1] == np.inf else 0
    nf = int(cum[-1] - cum[0]) - n_neg - n_pos
    if nf <= 0:
        return np.array([-np.inf, np.inf])
    first = cum[0] + n_neg
    edges = _quantiles_from_order_stats(
        lambda j: vals[np.searchsorted(cum, first + j, side="right") - 1], nf, q)
    edges[-1] = np.nextafter(edges[-1], np.inf)
    return np.concatenate([[-np.inf], np.sort(edges), [np.inf]])


@dataclass
class Cells:
    """The statistics of the current (day, key) cells of one feature and segment type."""
    rcount: np.ndarray      # (C, B) reference counts per bin, missing last
    ccount: np.ndarray      # (C, B) current counts per bin
    statistic: np.ndarray
    p_value: np.ndarray


def _ks_limit_pvalue(d: np.ndarray, n: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Smirnov's limit: ``P(sqrt(nm/(n+m)) D > x)`` tends to Kolmogorov's distribution."""
    en = n * m / (n + m)
    return np.clip(stats.kstwobign.sf(d * np.sqrt(en)), 0.0, 1.0)


def sorted_numeric_cells(x: np.ndarray, order: np.ndarray, g: Groups, cell_t: np.ndarray,
                         cell_k: np.ndarray, lo: np.ndarray, hi: np.ndarray, n_bins: int,
                         ks_p_value: str) -> Cells:
    """Numeric feature ``x`` (NaN missing; ``order`` sorts its non-missing values) in
    every current cell, against the window ``[lo[t], hi[t]]`` of its day: the sliding
    count vector over the values' ranks (for features with many distinct values)."""
    n_days, n_keys = g.n_rows.shape
    n_cells = n_days * n_keys
    missing = np.isnan(x)
    miss = np.bincount(g.cell[missing], minlength=n_cells).reshape(n_days, n_keys)
    # rank of each non-missing value among its key's distinct values; keys contiguous
    by_key = order if n_keys == 1 else order[_stable_order(g.key[order], n_keys)]
    xs, ks = x[by_key], g.key[by_key]
    new = np.ones(xs.size, dtype=bool)
    new[1:] = (xs[1:] != xs[:-1]) | (ks[1:] != ks[:-1])
    vals = xs[new]
    key_start = np.searchsorted(ks[new], np.arange(n_keys + 1))
    rank = np.empty(x.size, dtype=np.int64)
    rank[by_key] = np.cumsum(new) - 1
    # values and ranks grouped by (day, key) cell, ascending within a cell
    by_cell = order[_stable_order(g.cell[order], n_cells)]
    cell_x, cell_rank = x[by_cell], rank[by_cell]
    bounds = np.concatenate([[0], np.cumsum(np.bincount(g.cell[order], minlength=n_cells))])

    q = np.linspace(0.0, 1.0, n_bins + 1)
    width = n_bins + 3
    n_out = cell_t.size
    rcount = np.zeros((n_out, width), dtype=np.int64)
    ccount = np.zeros((n_out, width), dtype=np.int64)
    stat = np.full(n_out, np.nan)
    p = np.full(n_out, np.nan)
    asymp_n = np.zeros(n_out, dtype=np.int64)
    asymp_m = np.zeros(n_out, dtype=np.int64)
    w = np.zeros(vals.size, dtype=np.int64)
    w_miss = np.zeros(n_keys, dtype=np.int64)
    cum = np.zeros(vals.size + 1, dtype=np.int64)
    have = (0, -1)

    def move(day: int, sign: int) -> None:
        s, e = bounds[day * n_keys], bounds[(day + 1) * n_keys]
        np.add.at(w, cell_rank[s:e], sign)
        w_miss[:] += sign * miss[day]

    for i in range(n_out):
        t, k = int(cell_t[i]), int(cell_k[i])
        want = (int(lo[t]), int(hi[t]))
        if want != have:
            for d in range(have[0], have[1] + 1):
                if not want[0] <= d <= want[1]:
                    move(d, -1)
            for d in range(want[0], want[1] + 1):
                if not have[0] <= d <= have[1]:
                    move(d, +1)
            np.cumsum(w, out=cum[1:])
            have = want
        off, end = key_start[k], key_start[k + 1]
        kcum = cum[off:end + 1]     # the key's running counts; kcum[0] its offset
        n_ref = int(kcum[-1] - kcum[0])
        s, e = bounds[t * n_keys + k], bounds[t * n_keys + k + 1]
        cs = cell_x[s:e]
        m = cs.size
        if n_ref == 0:
            edges = np.array([-np.inf, np.inf])
        else:
            edges = _reference_edges(vals[off:end], w[off:end], kcum, q)
            below = kcum[np.searchsorted(vals[off:end], edges[1:-1], side="left")] - kcum[0]
            rcount[i, :edges.size - 1] = np.diff(np.concatenate([[0], below, [n_ref]]))
        rcount[i, -1] = w_miss[k]
        counts = _counts_sorted(cs, edges, miss[t, k])
        ccount[i, :edges.size - 1] = counts[:-1]
        ccount[i, -1] = counts[-1]
        if n_ref == 0 or m == 0:
            continue
        if max(n_ref, m) <= KS_EXACT_MAX_N:
            stat[i], p[i], _ = _ks(np.repeat(vals[off:end], w[off:end]), cs, "exact")
            continue
        # the reference ECDF at the current values (ranks), as _ks_statistic_sorted
        cr = cell_rank[s:e] - off
        starts = np.flatnonzero(np.concatenate([[True], cr[1:] != cr[:-1]]))
        ends = np.append(starts[1:], m)
        below, upto = kcum[cr[starts]] - kcum[0], kcum[cr[starts] + 1] - kcum[0]
        stat[i] = max(np.abs(upto / n_ref - ends / m).max(), np.abs(below / n_ref - starts / m).max())
        asymp_n[i], asymp_m[i] = n_ref, m
    _asymptotic_p(p, stat, asymp_n, asymp_m, ks_p_value)
    return Cells(rcount, ccount, stat, p)


def _asymptotic_p(p: np.ndarray, stat: np.ndarray, n: np.ndarray, m: np.ndarray, ks_p_value: str) -> None:
    """Fill the KS p-values of the cells with ``n > 0`` (those past the exact sizes)."""
    big = n > 0
    if big.any():
        pvalue = _ks_asymp_pvalue if ks_p_value == "scipy" else _ks_limit_pvalue
        p[big] = pvalue(stat[big], n[big], m[big])


def _window_counts(codes: np.ndarray, n_values: int, g: Groups, cell_t: np.ndarray, cell_k: np.ndarray,
                   lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counts of the rows' ``codes`` (in ``[0, n_values)``) per current (day, key) cell,
    ``(ref, cur)``, each ``(cells, n_values)``: ``cur`` the cell's own, ``ref`` summed
    over its day's window ``[lo[t], hi[t]]`` (zero where empty) by a cumulative sum over
    days."""
    n_days, n_keys = g.n_rows.shape
    per_day = np.bincount(g.cell * n_values + codes,
                          minlength=n_days * n_keys * n_values).reshape(n_days, n_keys, n_values)
    upto = np.zeros((n_days + 1, n_keys, n_values), dtype=np.int64)
    np.cumsum(per_day, axis=0, out=upto[1:])
    cl, ch = lo[cell_t], hi[cell_t]
    empty = cl > ch
    ref = upto[np.where(empty, 0, ch + 1), cell_k] - upto[np.where(empty, 0, cl), cell_k]
    cur = per_day[cell_t, cell_k]
    return ref, cur


def dense_numeric_cells(codes: np.ndarray, uniq: np.ndarray, g: Groups, cell_t: np.ndarray,
                        cell_k: np.ndarray, lo: np.ndarray, hi: np.ndarray, n_bins: int,
                        ks_p_value: str) -> Cells:
    """The same as :func:`sorted_numeric_cells` for a feature with few distinct values
    (``uniq``, sorted; ``codes`` indexes it, ``uniq.size`` for missing): counts per
    (day, key, value), summed over each window by a cumulative sum over days."""
    u1 = uniq.size + 1
    ref, cur = _window_counts(codes, u1, g, cell_t, cell_k, lo, hi)
    n_out = cell_t.size
    # running counts before each distinct value, the total last: (cells, u1)
    rcum = np.zeros((n_out, u1), dtype=np.int64)
    ccum = np.zeros((n_out, u1), dtype=np.int64)
    np.cumsum(ref[:, :-1], axis=1, out=rcum[:, 1:])
    np.cumsum(cur[:, :-1], axis=1, out=ccum[:, 1:])
    n, m = rcum[:, -1], ccum[:, -1]
    # KS: the ECDFs' largest gap over every distinct value (right limits), as scipy
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = np.abs(rcum[:, 1:] / n[:, None] - ccum[:, 1:] / m[:, None]).max(axis=1, initial=0.0)
    stat = np.where((n > 0) & (m > 0), stat, np.nan)
    p = np.full(n_out, np.nan)
    q = np.linspace(0.0, 1.0, n_bins + 1)
    width = n_bins + 3
    rcount = np.zeros((n_out, width), dtype=np.int64)
    ccount = np.zeros((n_out, width), dtype=np.int64)
    rcount[:, -1], ccount[:, -1] = ref[:, -1], cur[:, -1]
    exact = (n > 0) & (m > 0) & (np.maximum(n, m) <= KS_EXACT_MAX_N)
    for i in range(n_out):
        if n[i] == 0:
            ccount[i, 0] = m[i]
            continue
        edges = _reference_edges(uniq, ref[i, :-1], rcum[i], q)
        at = np.concatenate([[0], np.searchsorted(uniq, edges[1:-1], side="left"), [u1 - 1]])
        rcount[i, :edges.size - 1] = np.diff(rcum[i, at])
        ccount[i, :edges.size - 1] = np.diff(ccum[i, at])
        if exact[i]:
            stat[i], p[i], _ = _ks(np.repeat(uniq, ref[i, :-1]), np.repeat(uniq, cur[i, :-1]), "exact")
    big = (n > 0) & (m > 0) & ~exact
    _asymptotic_p(p, stat, np.where(big, n, 0), m, ks_p_value)
    return Cells(rcount, ccount, stat, p)


# ------------------------------------------------------------------------ categorical
def categorical_cells(col: Any, name: str, g: Groups, cell_t: np.ndarray, cell_k: np.ndarray,
                      lo: np.ndarray, hi: np.ndarray) -> Cells:
    """Category counts per (day, key), summed over each day's window by a cumulative sum."""
    codes, _, k1 = _categorical_codes(col, col.slice(0, 0), name)
    ref, cur = _window_counts(codes, k1, g, cell_t, cell_k, lo, hi)
    stat, p, _ = _chi2_rows(ref, cur)
    return Cells(ref, cur, stat, p)
