"""Uncertainty for offline metrics: CLT standard errors for means (optionally
clustered by group), a seeded, vectorised bootstrap over groups, and paired
deltas against a baseline.

The bootstrap resamples *groups* (requests or users), not rows, because rows of
one request (or one user) are correlated. Replicate ``b`` draws ``G`` groups
with replacement; group ``g`` drawn ``c_bg`` times gives every one of its rows
weight ``c_bg``, and the statistic is recomputed as a *weighted* statistic on
the original rows. The work inside a replicate is vectorised (``bincount`` and
dot products); only the ~200 replicates are a Python loop.

References
----------
Efron, B. and Tibshirani, R. J. (1993). *An Introduction to the Bootstrap*.
Chapman & Hall. (percentile interval, ch. 13)

Field, C. A. and Welsh, A. H. (2007). Bootstrapping clustered data. *JRSS B*
69(3), 369-390. (resampling clusters)

Cameron, A. C. and Miller, D. L. (2015). A practitioner's guide to
cluster-robust inference. *J. Human Resources* 50(2), 317-372.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, Iterator

import numpy as np
from scipy import stats

from receval import _validation as v
from .results import MetricResult, undefined

__all__ = [
    "z_value",
    "normal_interval",
    "skew_corrected_interval",
    "bootstrap_group_counts",
    "bootstrap_count_batches",
    "bootstrap_over_groups",
    "percentile_interval",
    "mean_with_clt",
    "paired_mean_delta",
    "bootstrap_result",
]


def z_value(alpha: float = 0.05) -> float:
    """Two-sided standard-normal quantile: ``z = Phi^{-1}(1 - alpha / 2)``."""
    return _z(v.check_alpha(alpha))


@functools.lru_cache(maxsize=None)
def _z(alpha: float) -> float:  # scipy's ppf costs ~0.2 ms; a mart asks for it per interval
    return float(stats.norm.ppf(1.0 - alpha / 2.0))


def normal_interval(value: float, std_error: float, alpha: float = 0.05,
                    bounds: tuple[float, float] | None = None) -> tuple[float, float]:
    """Wald interval ``value -/+ z * std_error``, clipped to ``bounds`` if given."""
    if not (math.isfinite(value) and math.isfinite(std_error)):
        return math.nan, math.nan
    z = z_value(alpha)
    lo, hi = value - z * std_error, value + z * std_error
    if bounds is not None:
        lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
    return float(lo), float(hi)


def skew_corrected_interval(value: float, std_error: float, skewness: float,
                            alpha: float = 0.05) -> tuple[float, float]:
    """Two-sided interval for a mean whose sampling distribution is skewed (Hall, 1992).

    ``skewness`` is that of the estimate's sampling distribution, ``kappa = gamma / sqrt(G)``
    for a mean of ``G`` independent units of skewness ``gamma``. The studentised error
    ``T = (value - truth) / std_error`` is then skewed the other way, so the normal
    interval misses on the side of the long tail; Hall's monotone transformation
    ``g(T) = T + a T^2 + a^2 T^3 / 3 + b`` with ``a = kappa / 3``, ``b = kappa / 6`` is
    normal to second order, and the interval is
    ``[value - std_error * g^-1(z), value - std_error * g^-1(-z)]``. With ``kappa = 0``
    it is the Wald interval; a NaN skewness gives the Wald interval too.

    Hall, P. (1992). On the removal of skewness by transformation. JRSS B 54(1), 221-228.
    Zhou, X.-H. and Dinh, P. (2005). Nonparametric confidence intervals for the one- and
    two-sample problems. Biostatistics 6(2), 187-200.
    """
    if not (math.isfinite(value) and math.isfinite(std_error)):
        return math.nan, math.nan
    if not math.isfinite(skewness) or abs(skewness) < 1e-12:
        return normal_interval(value, std_error, alpha)
    z = z_value(alpha)
    a = skewness / 3.0
    b = a / 2.0
    # g(t) = ((1 + a t)^3 - 1) / (3 a) + b, so g^-1(y) = (cbrt(1 + 3 a (y - b)) - 1) / a
    lo_t, hi_t = ((math.cbrt(1.0 + 3.0 * a * (y - b)) - 1.0) / a for y in (-z, z))
    return float(value - std_error * hi_t), float(value - std_error * lo_t)


def _draw_counts(rng: np.random.Generator, n_groups: int) -> np.ndarray:
    """One resample: how often each of the ``n_groups`` groups is drawn in ``n_groups``
    draws with replacement (integer counts)."""
    return np.bincount(rng.integers(0, n_groups, size=n_groups), minlength=n_groups)


def bootstrap_group_counts(n_groups: int, n_bootstrap: int = 200, random_state: Any = 0,
                           ) -> Iterator[np.ndarray]:
    """Yield ``n_bootstrap`` vectors of multinomial counts: how often each of the
    ``n_groups`` groups is drawn in a with-replacement resample of size
    ``n_groups``. Seeded: an int ``random_state`` gives the same draws on every call.
    """
    n_bootstrap = v.check_int(n_bootstrap, "n_bootstrap", minimum=1)
    n_groups = v.check_int(n_groups, "n_groups", minimum=1)
    rng = v.check_random_state(random_state)
    for _ in range(n_bootstrap):
        yield _draw_counts(rng, n_groups).astype(np.float64)


def bootstrap_count_batches(n_groups: int, n_bootstrap: int = 200, random_state: Any = 0,
                            batch: int | None = None) -> Iterator[np.ndarray]:
    """The resamples of :func:`bootstrap_group_counts` (same seed, same draws),
    stacked in batches: arrays of shape (<= batch, n_groups). Default batch:
    16, fewer when ``n_groups`` is large (at most ~2**24 counts, 128 MB, a batch).
    Each batch is filled in place (no per-replicate float copy, no stacking)."""
    n_bootstrap = v.check_int(n_bootstrap, "n_bootstrap", minimum=1)
    n_groups = v.check_int(n_groups, "n_groups", minimum=1)
    rng = v.check_random_state(random_state)
    if batch is None:
        batch = max(1, min(16, (1 << 24) // n_groups))
    for start in range(0, n_bootstrap, batch):
        out = np.empty((min(batch, n_bootstrap - start), n_groups))
        for row in out:
            row[:] = _draw_counts(rng, n_groups)
        yield out


def map_batches(fn: Callable[[np.ndarray], Any], batches, n_threads: int | None = None) -> list:
    """``[fn(b) for b in batches]`` on a small thread pool (order kept). The
    batch work is numpy / scipy.sparse, which release the GIL. The draws are
    made in the calling thread, so results do not depend on ``n_threads``.
    While the pool runs, BLAS uses one thread: its own threads on top of the pool's
    oversubscribe the cores, and OpenBLAS's spin-waiting burns the CPU the pool needs
    (a BLAS product gives the same numbers on any number of threads)."""
    import os
    from concurrent.futures import ThreadPoolExecutor
    n_threads = min(2, os.cpu_count() or 1) if n_threads is None else n_threads
    if n_threads <= 1:
        return [fn(b) for b in batches]
    with ThreadPoolExecutor(n_threads) as pool, single_blas_thread():
        futures, out = [], []
        for b in batches:  # keep at most 2 * n_threads batches in flight (memory)
            futures.append(pool.submit(fn, b))
            if len(futures) >= 2 * n_threads:
                out.append(futures.pop(0).result())
        out.extend(f.result() for f in futures)
    return out


@functools.cache
def _blas_threads():
    from threadpoolctl import ThreadpoolController
    return ThreadpoolController()


def single_blas_thread():
    """Context manager: BLAS on one thread inside it. Small products gain nothing from
    threads on a busy machine, and a product's rounding then does not depend on the
    thread count."""
    return _blas_threads().limit(limits=1, user_api="blas")


def bootstrap_over_groups(statistic: Callable[[np.ndarray], Any], group_ids: Any,
                          n_bootstrap: int = 200, random_state: Any = 0) -> np.ndarray:
    """Bootstrap replicates of a weighted statistic, resampling groups.

    Parameters
    ----------
    statistic : callable
        ``statistic(row_weights) -> float or 1-d array``; must compute the
        statistic with non-negative row weights (weight 1 everywhere gives the
        point estimate).
    group_ids : array-like, shape (n_rows,)
        Group id of each row (request_id, user_id, ...).
    n_bootstrap : int, default 200
        Number of replicates.
    random_state : int, numpy Generator or None, default 0
        Seed of the resamples; the same int seed gives the same resamples, which is
        what makes paired deltas paired.

    Returns
    -------
    ndarray, shape (n_bootstrap,) or (n_bootstrap, k)
        Replicates; NaN where the statistic is undefined on a resample.
    """
    codes, n_groups = v.group_codes(group_ids, "group_ids", sort=True)
    if n_groups == 0:
        raise ValueError("`group_ids` is empty: nothing to resample")
    reps = []
    for counts in bootstrap_group_counts(n_groups, n_bootstrap, random_state):
        reps.append(np.asarray(statistic(counts[codes]), dtype=np.float64))
    return np.asarray(reps)


def percentile_interval(replicates: np.ndarray, alpha: float = 0.05,
                        ) -> tuple[float, float, float]:
    """Percentile interval and bootstrap standard error of 1-d replicates.

    Returns ``(std_error, ci_low, ci_high)``; replicates that are NaN (metric
    undefined on that resample) are dropped. All NaN if fewer than 2 remain.
    """
    alpha = v.check_alpha(alpha)
    reps = np.asarray(replicates, dtype=np.float64)
    reps = reps[np.isfinite(reps)]
    if reps.size < 2:
        return math.nan, math.nan, math.nan
    lo, hi = np.quantile(reps, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(reps.std(ddof=1)), float(lo), float(hi)


def bootstrap_result(name: str, value: float, replicates: np.ndarray, *, n: int,
                     n_groups: int, alpha: float = 0.05, n_excluded: int = 0,
                     interval: str = "percentile", bounds: tuple[float, float] | None = None,
                     **extra: Any) -> MetricResult:
    """Wrap a point estimate and its bootstrap replicates in a :class:`MetricResult`.

    ``interval="percentile"`` takes the replicates' quantiles (right for skewed or
    bounded statistics such as ECE); ``"normal"`` is ``value +/- z * SE_boot`` (Efron &
    Tibshirani 1993, ch. 13), for statistics that are close to normal (AUC, AP and their
    deltas): with a few hundred replicates the standard error is estimated far more
    stably than the 2.5% and 97.5% quantiles, whose noise costs coverage. A normal
    interval is clipped to the statistic's ``bounds``.
    """
    se, lo, hi = percentile_interval(replicates, alpha)
    if interval == "normal":
        lo, hi = normal_interval(value, se, alpha, bounds)
    elif interval != "percentile":
        raise ValueError(f"interval must be 'percentile' or 'normal', got {interval!r}")
    reps = np.asarray(replicates, dtype=np.float64)
    extra = dict(extra, n_bootstrap=int(reps.size), n_bootstrap_undefined=int((~np.isfinite(reps)).sum()))
    return MetricResult(name=name, value=float(value), std_error=se, ci_low=lo, ci_high=hi,
                        n=int(n), n_groups=int(n_groups), n_excluded=int(n_excluded),
                        method=f"bootstrap_{interval}", alpha=alpha, extra=extra)


def _clt(values: np.ndarray, codes: np.ndarray | None, n_clusters: int | None,
         ) -> tuple[float, float]:
    n = values.size
    mean = float(values.mean())
    if codes is None:
        se = float(values.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
        return mean, se
    resid = np.bincount(codes, weights=values - mean, minlength=n_clusters)
    c = int(n_clusters)
    if c < 2:
        return mean, math.nan
    var = c / (c - 1) * float(resid @ resid) / (n * n)
    return mean, math.sqrt(var)


def mean_with_clt(values: Any, *, name: str = "mean", group_ids: Any = None,
                  alpha: float = 0.05, bounds: tuple[float, float] | None = None,
                  n_excluded: int = 0) -> MetricResult:
    r"""Mean of per-unit values with a CLT standard error and a Wald interval.

    Without ``group_ids``: :math:`\hat\mu = \bar v`,
    :math:`\widehat{SE} = s / \sqrt{n}` with :math:`s` the sample standard
    deviation (ddof=1).

    With ``group_ids`` (the cluster of each unit, e.g. the user of each request), the
    cluster-robust (sandwich) standard error of the mean:
    :math:`\widehat{SE}^2 = \frac{C}{C-1}\frac{1}{n^2}\sum_c\big(\sum_{i\in c}(v_i-\hat\mu)\big)^2`
    (Cameron and Miller, 2015).

    NaN values are treated as undefined units and excluded (counted in
    ``n_excluded``). The interval is :math:`\hat\mu \mp z_{1-\alpha/2}\widehat{SE}`,
    clipped to ``bounds``.
    """
    alpha = v.check_alpha(alpha)
    x = as_1d_float_allow_nan(values, "values")
    codes = None
    n_clusters = None
    if group_ids is not None:
        codes, n_clusters = v.group_codes(group_ids, "group_ids", sort=True)
        v.check_lengths(values=x, group_ids=codes)
    keep = ~np.isnan(x)
    n_excluded += int((~keep).sum())
    if not keep.all():
        x = x[keep]
        if codes is not None:
            codes, n_clusters = v.group_codes(codes[keep], "group_ids", sort=True)
    if x.size == 0:
        return undefined(name, "no defined values (empty input or every unit undefined)",
                         n_excluded=n_excluded, alpha=alpha)
    mean, se = _clt(x, codes, n_clusters)
    lo, hi = normal_interval(mean, se, alpha, bounds)
    return MetricResult(name=name, value=mean, std_error=se, ci_low=lo, ci_high=hi, n=int(x.size),
                        n_groups=n_clusters, n_excluded=n_excluded,
                        method="clt" if codes is None else "clt_cluster", alpha=alpha)


def paired_mean_delta(values_model: Any, values_baseline: Any, *, name: str = "delta",
                      group_ids: Any = None, alpha: float = 0.05) -> MetricResult:
    r"""Paired difference of two means over the same units.

    :math:`\hat\Delta = \overline{v^{A} - v^{B}}` with the CLT (or clustered on
    ``group_ids``) standard error of the per-unit differences; units where either value is
    NaN are excluded from both. ``extra`` holds both means on the common units.
    """
    a = as_1d_float_allow_nan(values_model, "values_model")
    b = as_1d_float_allow_nan(values_baseline, "values_baseline")
    v.check_lengths(values_model=a, values_baseline=b)
    both = ~(np.isnan(a) | np.isnan(b))
    d = np.where(both, a - b, np.nan)
    res = mean_with_clt(d, name=name, group_ids=group_ids, alpha=alpha)
    extra = {"model": float(a[both].mean()) if both.any() else math.nan,
             "baseline": float(b[both].mean()) if both.any() else math.nan}
    return _with_extra(res, extra)


def _with_extra(res: MetricResult, extra: dict[str, Any]) -> MetricResult:
    from dataclasses import replace
    return replace(res, extra={**res.extra, **extra})


def as_1d_float_allow_nan(x: Any, name: str) -> np.ndarray:
    """1-d float64 array; NaN (or null) allowed, meaning 'undefined unit'; inf rejected."""
    return v.check_finite(x, name, min_size=0, allow_nan=True)
