r"""Seeded, vectorised percentile bootstrap for off-policy estimators.

Every estimator in :mod:`receval.ope` is a smooth function of the sums of a few per-round
*components* (IPS: :math:`\sum w r / \sum 1`; SNIPS: :math:`\sum w r / \sum w`; ...). The
bootstrap resamples units (rounds, or whole groups such as requests or users, with
replacement), recomputes the component sums and applies the estimator's statistic, all in
numpy: the resampled index matrix is processed in chunks so memory stays bounded. With an
int seed the draws depend only on the seed, the number of units and of replicates, so they
are kept as a matrix of counts and every estimator of a cell (same seed, same clusters)
reuses them: a product of counts and unit sums instead of a gather per estimator.

References
----------
Efron, B., Tibshirani, R. J. (1993). An Introduction to the Bootstrap, ch. 13 (percentile
interval). Field, C. A., Welsh, A. H. (2007). Bootstrapping clustered data. JRSS B 69.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np

from receval import _validation as v
from receval.metrics.uncertainty import single_blas_thread

__all__ = ["bootstrap_ci", "bootstrap_replicates"]

_CHUNK_ELEMENTS = 1 << 22  # resampled indices held at once (32 MiB of int64)
_COUNTS_ELEMENTS = 1 << 30  # largest resample-count matrix kept for reuse (1 GiB of uint8)


@functools.lru_cache(maxsize=1)
def _resample_counts(seed: int, n_units: int, n_bootstrap: int) -> np.ndarray:
    """``(n_bootstrap, n_units)``: how often each unit is drawn in each replicate, from the
    draws :func:`bootstrap_replicates` makes with an int seed (the same generator, chunks
    and order). They depend on the seed and the counts only, so the estimators of one
    cell, which share both, draw them once (the last matrix is kept). Small integers:
    uint8 unless some unit is drawn more than 255 times in a replicate. A cell of millions of
    requests (the large preset's overall cells: 5M) keeps 200 replicates in 1 GiB, where
    each estimator drew its own, a multinomial at a time."""
    rng = np.random.default_rng(seed)
    per = max(1, _CHUNK_ELEMENTS // n_units)
    counts = np.empty((n_bootstrap, n_units), np.uint8)
    for start in range(0, n_bootstrap, per):
        stop = min(n_bootstrap, start + per)
        idx = rng.integers(0, n_units, size=(stop - start, n_units))
        for k, draws in enumerate(idx, start):   # one replicate at a time: its counts stay in cache
            row = np.bincount(draws, minlength=n_units)
            if counts.dtype == np.uint8 and row.max() > np.iinfo(np.uint8).max:
                counts = counts.astype(np.uint32)
            counts[k] = row
    counts.flags.writeable = False
    return counts


def _resampled_sums(counts: np.ndarray, units: np.ndarray) -> np.ndarray:
    """``counts @ units`` (each replicate's column sums) in row chunks of float64 counts, on
    one BLAS thread: the product's rounding must not depend on the thread count."""
    per = max(1, _CHUNK_ELEMENTS // counts.shape[1])
    sums = np.empty((counts.shape[0], units.shape[1]))
    with single_blas_thread():
        for start in range(0, counts.shape[0], per):
            sums[start:start + per] = counts[start:start + per].astype(np.float64) @ units
    return sums


def bootstrap_replicates(
    components: Any,
    statistic: Callable[[np.ndarray], np.ndarray],
    *,
    group_ids: Any = None,
    n_bootstrap: int = 1000,
    random_state: Any = None,
) -> np.ndarray:
    """Bootstrap replicates of ``statistic(component sums)``.

    Parameters
    ----------
    components : array-like, shape (n_rounds, m) or (n_rounds,)
        Per-round components whose column sums determine the estimate.
    statistic : callable
        Maps an ``(B, m)`` array of resampled column sums to ``(B,)`` estimates (NaN
        allowed where undefined, e.g. a zero denominator).
    group_ids : array-like, optional
        Resample whole groups (clusters) instead of rounds.
    n_bootstrap : int, default 1000
        Number of replicates (>= 1).
    random_state : None, int or numpy.random.Generator
        Seed; the same seed gives the same replicates.

    Returns
    -------
    numpy.ndarray, shape (n_bootstrap,)
    """
    comp = np.asarray(components, dtype=np.float64)
    if comp.ndim == 1:
        comp = comp[:, None]
    if comp.ndim != 2 or comp.shape[0] == 0:
        raise ValueError(f"`components` must be a non-empty (n, m) array, got shape {comp.shape}")
    b = v.check_int(n_bootstrap, "n_bootstrap", minimum=1)
    rng = v.check_random_state(random_state)
    if group_ids is not None:
        codes, g = v.group_codes(group_ids, n=comp.shape[0])
        units = np.zeros((g, comp.shape[1]))
        for j in range(comp.shape[1]):
            units[:, j] = np.bincount(codes, weights=comp[:, j], minlength=g)
    else:
        units = comp
    n_units = units.shape[0]
    if v.is_seed(random_state) and n_units * b <= _COUNTS_ELEMENTS:
        return np.asarray(statistic(_resampled_sums(_resample_counts(int(random_state), n_units, b), units)),
                          np.float64)
    out = np.empty(b)
    if n_units <= _CHUNK_ELEMENTS:
        per = max(1, _CHUNK_ELEMENTS // n_units)
        # gathering from a contiguous copy of a column is several times faster than from the column
        columns = [np.ascontiguousarray(units[:, j]) for j in range(units.shape[1])]
        for start in range(0, b, per):
            stop = min(b, start + per)
            idx = rng.integers(0, n_units, size=(stop - start, n_units))
            sums = np.stack([column[idx].sum(axis=1) for column in columns], axis=1)
            out[start:stop] = statistic(sums)
    else:  # very many units: one replicate at a time, via multinomial counts
        for k in range(b):
            counts = rng.multinomial(n_units, np.full(n_units, 1.0 / n_units)).astype(np.float64)
            out[k] = statistic((counts @ units)[None, :])[0]
    return out


def bootstrap_ci(
    components: Any,
    statistic: Callable[[np.ndarray], np.ndarray],
    *,
    alpha: float = 0.05,
    group_ids: Any = None,
    n_bootstrap: int = 1000,
    random_state: Any = None,
) -> tuple[float, float]:
    """Percentile bootstrap interval ``(q_{alpha/2}, q_{1-alpha/2})`` of the replicates.

    Replicates where the statistic is undefined (NaN) are ignored; if all are, the interval
    is ``(nan, nan)``. See :func:`bootstrap_replicates` for the parameters.
    """
    a = v.check_alpha(alpha)
    reps = bootstrap_replicates(
        components, statistic, group_ids=group_ids, n_bootstrap=n_bootstrap,
        random_state=random_state,
    )
    reps = reps[np.isfinite(reps)]
    if reps.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.quantile(reps, [a / 2.0, 1.0 - a / 2.0])
    return float(lo), float(hi)
