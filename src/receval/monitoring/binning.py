r"""Bins of a feature: reference-quantile edges for numeric features, categories for
categorical ones, and the counts per bin that the drift statistics compare.

Numeric features are binned on the *reference* sample's quantiles
(:func:`reference_bins`): the edges are the unique values of the reference's
``0, 1/n_bins, ..., 1`` quantiles (``numpy.quantile``, linear interpolation, over its
finite values), the top one nudged up by one ulp so that the reference maximum falls
inside, plus ``-inf`` and ``+inf`` outer edges. Every bin is left-closed,
``[e_i, e_{i+1})``, so the bins are

* ``[-inf, min)``: current values below the reference range (empty in the reference
  unless it holds ``-inf``),
* up to ``n_bins`` quantile bins covering ``[min, max]`` (fewer when quantiles tie:
  a value carrying more than ``1/n_bins`` of the reference mass merges bins),
* ``[max, +inf]``: current values above the reference range (``+inf`` included),
* and a last, separate bin for missing values (NaN / null).

A constant feature ``c`` thus has the bins ``[-inf, c)``, ``[c, c]``, ``(c, +inf]`` and
missing: any change of its value is seen. Categorical features use their categories as
bins (:func:`categorical_counts`): the union of the reference's and the current
sample's categories, missing values as one more category.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from receval import _validation as v

__all__ = ["reference_bins", "bin_counts", "categorical_counts"]


def _edges_from_finite(finite: np.ndarray, n_bins: int) -> np.ndarray:
    """Edges from the reference's finite values (any order)."""
    if finite.size == 0:
        return np.array([-np.inf, np.inf])
    q = np.quantile(finite, np.linspace(0.0, 1.0, n_bins + 1))
    q[-1] = np.nextafter(q[-1], np.inf)
    return np.concatenate([[-np.inf], np.unique(q), [np.inf]])


def reference_bins(values: Any, n_bins: int = 10) -> np.ndarray:
    """Bin edges from the reference sample's quantiles.

    Parameters
    ----------
    values : array-like of float
        The reference sample; NaN / null marks a missing value (ignored here: missing
        values get their own bin in :func:`bin_counts`). ``+-inf`` values are allowed
        and fall in the outer bins; quantiles are taken over the finite values.
    n_bins : int
        Quantile bins inside the reference range (fewer when quantiles tie).

    Returns
    -------
    numpy.ndarray
        Strictly increasing edges ``[-inf, q_0, q_1, ..., nextafter(q_n), +inf]``:
        ``q_j`` the unique ``j / n_bins`` quantiles (``q_0`` the minimum, ``q_n`` the
        maximum, nudged up one ulp so that it lies inside the last quantile bin).
        Bin ``i`` is ``[edges[i], edges[i+1])``; the last finite bin also holds
        ``+inf``. A reference with no finite value gives ``[-inf, +inf]`` (one bin).
        With ``len(edges) - 1`` value bins and the missing bin, :func:`bin_counts`
        returns ``len(edges)`` counts.
    """
    n_bins = v.check_int(n_bins, "n_bins", minimum=1)
    x = v.to_float_array(values, "values")
    if x.size == 0:
        raise ValueError("`values` is empty: bins need at least one reference value")
    return _edges_from_finite(x[np.isfinite(x)], n_bins)


def _check_edges(edges: Any) -> np.ndarray:
    e = v.to_float_array(edges, "edges")
    if e.size < 2 or e[0] != -np.inf or e[-1] != np.inf or not (np.diff(e) > 0).all():
        raise ValueError("`edges` must be strictly increasing, start at -inf and end at +inf "
                         "(as reference_bins returns them)")
    return e


def bin_counts(values: Any, edges: Any) -> np.ndarray:
    """Counts of ``values`` in the bins ``[edges[i], edges[i+1])`` plus a last bin of
    missing values (NaN / null): an int64 array of length ``len(edges)``."""
    e = _check_edges(edges)
    x = v.to_float_array(values, "values")
    idx = np.searchsorted(e[1:-1], x, side="right")
    idx[np.isnan(x)] = e.size - 1
    return np.bincount(idx, minlength=e.size).astype(np.int64)


def _counts_sorted(s: np.ndarray, edges: np.ndarray, n_missing: int) -> np.ndarray:
    """:func:`bin_counts` of sorted, NaN-free ``s`` (searchsorted of the edges)."""
    below = np.searchsorted(s, edges[1:-1], side="left")
    cum = np.concatenate([[0], below, [s.size]])
    return np.append(np.diff(cum), n_missing).astype(np.int64)


def _object_values(x: Any, name: str) -> np.ndarray:
    """Any 1-D array-like as a numpy array, nulls kept (as None / NaN)."""
    if x is None:
        raise ValueError(f"`{name}` must be an array, got None")
    mod = type(x).__module__
    if mod.startswith("pyarrow"):
        x = x.to_numpy(zero_copy_only=False)
    elif mod.startswith("pandas"):
        x = x.to_numpy()
    # a list of strings with a NaN would become the string 'nan' without dtype=object
    arr = x if isinstance(x, np.ndarray) else np.asarray(x, dtype=object)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.ravel()
    if arr.ndim != 1:
        raise ValueError(f"`{name}` must be 1-dimensional, got shape {arr.shape}")
    return arr


def categorical_counts(reference: Any, current: Any) -> tuple[list[Any], np.ndarray, np.ndarray]:
    """Counts per category of two samples of a categorical feature.

    The categories are the union of both samples': the reference's in order of first
    appearance, then categories seen only in the current sample (unseen categories are
    counted, with a reference count of 0), then one ``None`` category for missing
    values (None / NaN / null), always present.

    Returns
    -------
    (categories, reference_counts, current_counts)
        A list of ``K + 1`` categories (the last is ``None``) and two int64 arrays of
        length ``K + 1``.
    """
    import pandas as pd

    r = _object_values(reference, "reference")
    c = _object_values(current, "current")
    both = np.concatenate([r.astype(object), c.astype(object)])
    codes, uniques = pd.factorize(both, use_na_sentinel=True)
    k = len(uniques)
    codes = np.where(codes < 0, k, codes)
    rc = np.bincount(codes[: r.size], minlength=k + 1).astype(np.int64)
    cc = np.bincount(codes[r.size:], minlength=k + 1).astype(np.int64)
    return list(uniques) + [None], rc, cc
