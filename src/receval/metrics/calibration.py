r"""Calibration of predicted probabilities: calibration-in-the-large (mean
predicted vs observed rate), expected calibration error with equal-width or
equal-mass bins, and a reliability table (per bin: mean predicted, observed
rate with a Wilson interval, count).

Binning conventions
-------------------
``strategy="uniform"`` (equal width): ``B`` bins of width ``1/B`` on [0, 1];
bin ``b`` holds :math:`p \in [b/B, (b+1)/B)`, the last bin is closed
(:math:`p = 1` falls in bin ``B-1``); index ``min(floor(p B), B-1)``.

``strategy="quantile"`` (equal mass): edges are the ``0, 1/B, ..., 1``
quantiles of the predictions (``np.quantile``, linear interpolation);
:math:`p` goes to the bin ``searchsorted(inner_edges, p, side="right")``, so
tied predictions always share a bin. With heavy ties some edges coincide: the
duplicate edges are dropped and fewer, unequal bins result (``n_bins_used``
reports how many).

Empty bins are skipped (they carry no weight in the ECE).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from receval import _validation as v
from .results import MetricResult, undefined
from .uncertainty import bootstrap_count_batches, bootstrap_result, map_batches, mean_with_clt

__all__ = [
    "calibration_in_the_large",
    "expected_calibration_error",
    "reliability_bins",
    "ReliabilityTable",
    "bin_edges",
    "EceBootstrap",
    "assign_bins",
]

_STRATEGIES = ("uniform", "quantile")


def _check(y_true, y_prob, n_bins, strategy):
    y = v.check_binary(y_true, "y_true")
    p = v.check_probability(y_prob, "y_prob", min_size=0)
    n = v.check_lengths(y_true=y, y_prob=p)
    n_bins = v.check_int(n_bins, "n_bins", minimum=1)
    if strategy not in _STRATEGIES:
        raise ValueError(f"`strategy` must be one of {_STRATEGIES}, got {strategy!r}")
    return y, p, n, n_bins


def bin_edges(y_prob: np.ndarray, n_bins: int = 10, strategy: str = "uniform") -> np.ndarray:
    """Bin edges (length ``n_bins_used + 1``) for the given strategy (see module doc)."""
    if strategy == "uniform":
        return np.linspace(0.0, 1.0, n_bins + 1)
    edges = np.quantile(y_prob, np.linspace(0.0, 1.0, n_bins + 1))
    edges[0], edges[-1] = min(edges[0], 0.0), max(edges[-1], 1.0)
    return np.unique(edges)


def assign_bins(y_prob: np.ndarray, edges: np.ndarray, strategy: str = "uniform") -> np.ndarray:
    """Bin index of each prediction (0 .. len(edges)-2)."""
    n_bins = edges.size - 1
    if strategy == "uniform":
        return np.minimum((y_prob * n_bins).astype(np.int64), n_bins - 1)
    return np.searchsorted(edges[1:-1], y_prob, side="right").astype(np.int64)


def _ece(b: np.ndarray, p: np.ndarray, yf: np.ndarray, n_bins: int, w: np.ndarray | None):
    cnt = np.bincount(b, weights=w, minlength=n_bins)
    sp = np.bincount(b, weights=p if w is None else p * w, minlength=n_bins)
    sy = np.bincount(b, weights=yf if w is None else yf * w, minlength=n_bins)
    tot = cnt.sum()
    if tot <= 0:
        return math.nan
    return float(np.abs(sp - sy).sum() / tot)   # sum_b (n_b/n) |mean_p_b - mean_y_b|


_DENSE_LIMIT = 60_000_000  # groups x bins cells for the dense per-group bin sums


class EceBootstrap:
    """ECE under a group bootstrap with fixed bin edges: per-group bin sums
    (count, sum of p, sum of y) so that a batch of replicates is one matrix
    product (falls back to weighted ``bincount`` when groups x bins is huge)."""

    def __init__(self, p, yf, codes, n_groups, n_bins, strategy):
        edges = bin_edges(p, n_bins, strategy)
        self.nb = edges.size - 1
        b = assign_bins(p, edges, strategy)
        self.dense = n_groups * self.nb <= _DENSE_LIMIT
        if self.dense:  # columns bin * 3 + (count, sum of p, sum of y), filled in place
            cell = codes * self.nb + b
            size = n_groups * self.nb
            self.S = np.empty((n_groups, self.nb * 3))
            sums = self.S.reshape(size, 3)
            sums[:, 0] = np.bincount(cell, minlength=size)
            sums[:, 1] = np.bincount(cell, weights=p, minlength=size)
            sums[:, 2] = np.bincount(cell, weights=yf, minlength=size)
        else:
            self.b, self.p, self.yf, self.codes = b, p, yf, codes
        cnt = np.bincount(b, minlength=self.nb)
        sp = np.bincount(b, weights=p, minlength=self.nb)
        sy = np.bincount(b, weights=yf, minlength=self.nb)
        self.value = float(np.abs(sp - sy).sum() / cnt.sum())

    def batch(self, C: np.ndarray) -> np.ndarray:
        """ECE for each row of replicate group counts ``C`` (batch x groups)."""
        if self.dense:
            T = (C @ self.S).reshape(C.shape[0], self.nb, 3)
        else:
            T = np.stack([np.stack([np.bincount(self.b, weights=w, minlength=self.nb),
                                    np.bincount(self.b, weights=w * self.p, minlength=self.nb),
                                    np.bincount(self.b, weights=w * self.yf, minlength=self.nb)],
                                   axis=-1) for w in (c[self.codes] for c in C)])
        return np.abs(T[:, :, 1] - T[:, :, 2]).sum(axis=1) / T[:, :, 0].sum(axis=1)


def expected_calibration_error(y_true: Any, y_prob: Any, *, n_bins: int = 10,
                               strategy: str = "uniform", group_ids: Any = None,
                               n_bootstrap: int = 200, random_state: Any = 0,
                               alpha: float = 0.05) -> MetricResult:
    r"""Expected calibration error (ECE) with equal-width or equal-mass bins.

    .. math::

        ECE = \sum_{b=1}^{B} \frac{n_b}{n}\,\big|\bar y_b - \bar p_b\big|

    with :math:`\bar p_b` the mean prediction and :math:`\bar y_b` the observed
    rate in bin :math:`b` (Naeini et al., 2015; Guo et al., 2017). Binning:
    see the module docstring (``strategy="uniform"`` or ``"quantile"``).

    Interval: percentile bootstrap over ``group_ids`` (over rows if None), with
    the bin edges fixed from the full sample. Note ECE is biased upward in
    small bins (the bootstrap does not remove that bias); ``n_bootstrap=0`` skips
    the interval.

    Returns
    -------
    MetricResult
        ``name`` = ``"ece_uniform"`` or ``"ece_quantile"``; ``extra`` has
        ``n_bins_used``.

    References
    ----------
    Naeini, M. P., Cooper, G. and Hauskrecht, M. (2015). Obtaining well
    calibrated probabilities using Bayesian binning. *AAAI*.

    Guo, C., Pleiss, G., Sun, Y. and Weinberger, K. Q. (2017). On calibration
    of modern neural networks. *ICML*.
    """
    alpha = v.check_alpha(alpha)
    y, p, n, n_bins = _check(y_true, y_prob, n_bins, strategy)
    name = f"ece_{strategy}"
    if n == 0:
        return undefined(name, "empty input", alpha=alpha)
    edges = bin_edges(p, n_bins, strategy)
    nb = edges.size - 1
    b = assign_bins(p, edges, strategy)
    yf = y.astype(np.float64)
    value = _ece(b, p, yf, nb, None)
    if n_bootstrap == 0:
        return MetricResult(name, value, n=n, alpha=alpha, extra={"n_bins_used": nb})
    if group_ids is None:
        codes, g = np.arange(n), n
    else:
        codes, g = v.group_codes(group_ids, "group_ids", n=n, sort=True)
    eb = EceBootstrap(p, yf, codes, g, n_bins, strategy)
    reps = np.concatenate(map_batches(eb.batch, bootstrap_count_batches(g, n_bootstrap, random_state)))
    return bootstrap_result(name, value, reps, n=n, n_groups=g, alpha=alpha,
                            n_bins_used=nb)


def calibration_in_the_large(y_true: Any, y_prob: Any, *, group_ids: Any = None,
                             alpha: float = 0.05) -> MetricResult:
    r"""Mean predicted probability minus observed positive rate.

    .. math::

        \hat\Delta = \bar p - \bar y = \frac1n \sum_i (p_i - y_i)

    with the CLT standard error of the per-row differences :math:`p_i - y_i`
    (cluster-robust over ``group_ids`` when given). Positive = over-prediction.
    ``extra``: ``mean_predicted``, ``observed_rate`` and
    ``observed_over_expected`` (:math:`\bar y / \bar p`, NaN if
    :math:`\bar p = 0`).

    References
    ----------
    Van Calster, B. et al. (2016). A calibration hierarchy for risk models was
    defined: from utopia to empirical data. *J. Clin. Epidemiology* 74, 167-176.
    """
    alpha = v.check_alpha(alpha)
    y = v.check_binary(y_true, "y_true")
    p = v.check_probability(y_prob, "y_prob", min_size=0)
    n = v.check_lengths(y_true=y, y_prob=p)
    if n == 0:
        return undefined("calibration_in_the_large", "empty input", alpha=alpha)
    res = mean_with_clt(p - y, name="calibration_in_the_large", group_ids=group_ids,
                        alpha=alpha)
    mp, oy = float(p.mean()), float(y.mean())
    from dataclasses import replace
    return replace(res, extra={"mean_predicted": mp, "observed_rate": oy,
                               "observed_over_expected": oy / mp if mp > 0 else math.nan})


@dataclass(frozen=True)
class ReliabilityTable:
    """Per-bin reliability diagram data (arrays of length ``n_bins_used``).

    Attributes
    ----------
    bin_low, bin_high : ndarray
        Bin edges.
    count : ndarray of int
        Rows in the bin (empty bins are kept, with NaN means).
    mean_predicted : ndarray
    observed_rate : ndarray
    ci_low, ci_high : ndarray
        Interval for the observed rate (Wilson score, or normal/Wald).
    interval : str
        ``"wilson"`` or ``"normal"``.
    alpha : float
        Significance level of the intervals (coverage ``1 - alpha``).
    n : int
        Total rows.
    """

    bin_low: np.ndarray
    bin_high: np.ndarray
    count: np.ndarray
    mean_predicted: np.ndarray
    observed_rate: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    interval: str
    alpha: float
    n: int

    def to_dict(self) -> dict[str, list]:
        return {k: getattr(self, k).tolist() for k in
                ("bin_low", "bin_high", "count", "mean_predicted", "observed_rate",
                 "ci_low", "ci_high")}

    def to_frame(self):
        """As a ``pandas.DataFrame`` (one row per bin)."""
        import pandas as pd
        return pd.DataFrame(self.to_dict())


def wilson_interval(successes: np.ndarray, n: np.ndarray, alpha: float = 0.05,
                    ) -> tuple[np.ndarray, np.ndarray]:
    r"""Wilson score interval for binomial proportions (vectorised; NaN where n=0).

    .. math::

        \frac{\hat p + \frac{z^2}{2n} \pm z\sqrt{\frac{\hat p(1-\hat p)}{n} + \frac{z^2}{4n^2}}}
             {1 + z^2/n}

    with :math:`z = \Phi^{-1}(1 - \alpha/2)`.

    Wilson, E. B. (1927). Probable inference, the law of succession, and
    statistical inference. *JASA* 22(158), 209-212.
    """
    z = stats.norm.ppf(1.0 - alpha / 2.0)
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ph = successes / n
        den = 1.0 + z * z / n
        centre = (ph + z * z / (2 * n)) / den
        half = z * np.sqrt(ph * (1 - ph) / n + z * z / (4 * n * n)) / den
    return centre - half, centre + half


def reliability_bins(y_true: Any, y_prob: Any, *, n_bins: int = 10, strategy: str = "uniform",
                     interval: str = "wilson", alpha: float = 0.05) -> ReliabilityTable:
    r"""Reliability-diagram table: per bin the mean prediction, the observed
    rate with a binomial interval (Wilson score by default, or ``"normal"``:
    :math:`\hat p \pm z\sqrt{\hat p(1-\hat p)/n_b}` clipped to [0, 1]), and the count.

    Binning as in :func:`expected_calibration_error`. Intervals treat rows as
    independent Bernoulli trials.
    """
    alpha = v.check_alpha(alpha)
    y, p, n, n_bins = _check(y_true, y_prob, n_bins, strategy)
    if interval not in ("wilson", "normal"):
        raise ValueError(f"`interval` must be 'wilson' or 'normal', got {interval!r}")
    edges = bin_edges(p, n_bins, strategy) if n else np.linspace(0.0, 1.0, n_bins + 1)
    nb = edges.size - 1
    b = assign_bins(p, edges, strategy)
    cnt = np.bincount(b, minlength=nb)
    sp = np.bincount(b, weights=p, minlength=nb)
    sy = np.bincount(b, weights=y.astype(np.float64), minlength=nb)
    with np.errstate(divide="ignore", invalid="ignore"):
        mp, rate = sp / cnt, sy / cnt
    if interval == "wilson":
        lo, hi = wilson_interval(sy, cnt, alpha)
    else:
        z = stats.norm.ppf(1.0 - alpha / 2.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            half = z * np.sqrt(rate * (1 - rate) / cnt)
        lo, hi = np.clip(rate - half, 0, 1), np.clip(rate + half, 0, 1)
    return ReliabilityTable(edges[:-1].copy(), edges[1:].copy(), cnt.astype(np.int64), mp, rate,
                            lo, hi, interval, alpha, int(n))
