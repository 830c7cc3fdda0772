r"""Survival re-weighting: the eventual conversion rate of a cohort whose purchases are
still arriving.

A row (a click, or an impression) of the cohort has converted so far,
:math:`y_i \in \{0, 1\}`, and was made :math:`e_i` hours before the data's end. If it
eventually converts (an attributed purchase within the window :math:`W`) with probability
:math:`\pi`, the purchase has arrived by now with probability :math:`F(e_i)`, the delay CDF
of :class:`~receval.delayed.DelayDistribution` (:math:`F(e) = 1` for :math:`e \ge W`), so
:math:`E[y_i] = \pi F(e_i)` and

.. math::

    \hat\pi = \frac{\bar y}{\bar F}, \qquad \bar y = \frac{1}{n}\sum_i y_i, \qquad
    \bar F = \frac{1}{n}\sum_i \hat F(e_i).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from receval import _validation as v
from receval.delayed.survival import DelayCurve, TruncatedSample, greenwood_terms
from receval.metrics.uncertainty import (
    bootstrap_group_counts, mean_with_clt, normal_interval, percentile_interval,
)

__all__ = ["EventualRate", "SurvivalReweighting"]


@dataclass(frozen=True)
class EventualRate:
    """The eventual conversion rate of a cohort, corrected for purchases still to come.

    Attributes
    ----------
    estimate : float
        :math:`\\hat\\pi = \\bar y / \\bar F`; equals ``naive`` when every row is mature.
    std_error : float
        Delta-method standard error (numerator and delay curve).
    ci_low, ci_high : float
        Wald ``1 - alpha`` interval ``estimate -/+ z * std_error``, clipped to [0, 1].
    naive, naive_std_error, naive_ci_low, naive_ci_high : float
        The rate so far :math:`\\bar y` with its CLT (clustered on ``group_ids``) standard
        error and Wald interval.
    arrival_probability, arrival_probability_std_error : float
        :math:`\\bar F`, the mean probability that an eventual purchase has arrived by
        now, and its standard error from the delay curve.
    prediction_std_error : float
        Standard error of ``estimate`` as a prediction of the cohort's own final rate (the
        share of *these* rows that will have converted once every window has closed): the
        noise of the purchases still to come and of the curve, without the sampling noise
        of the purchases already seen, which the final rate shares (0 on a mature cohort).
    prediction_low, prediction_high : float
        ``1 - alpha`` prediction interval of that final rate, ``estimate -/+ z *
        prediction_std_error``, clipped to [``naive``, 1]: the final rate is never below
        the rate so far.
    n : int
        Rows of the cohort.
    n_groups : int or None
        Clusters behind the numerator's standard error and the bootstrap (``None``: rows).
    n_converted : int
        Rows converted so far.
    alpha : float
        Significance level of the intervals.
    bootstrap_ci_low, bootstrap_ci_high : float
        Percentile bootstrap interval (``nan`` without a bootstrap).
    n_bootstrap : int
        Bootstrap replicates (0 when none).
    """

    estimate: float
    std_error: float
    ci_low: float
    ci_high: float
    naive: float
    naive_std_error: float
    naive_ci_low: float
    naive_ci_high: float
    arrival_probability: float
    arrival_probability_std_error: float
    prediction_std_error: float
    prediction_low: float
    prediction_high: float
    n: int
    n_groups: int | None
    n_converted: int
    alpha: float
    bootstrap_ci_low: float = math.nan
    bootstrap_ci_high: float = math.nan
    n_bootstrap: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Flat ``{field: value}`` mapping (one Arrow/mart row)."""
        return asdict(self)


class SurvivalReweighting:
    r"""Eventual conversion rate of an immature cohort: the rate so far divided by the
    probability that a purchase has arrived by now.

    .. math::

        \hat\pi = \frac{\bar y}{\bar F}, \qquad
        \bar F = \frac{1}{n}\sum_i \hat F(e_i),

        \widehat{Var}(\hat\pi) = \frac{\widehat{Var}(\bar y)}{\bar F^2}
            + \frac{\bar y^2}{\bar F^4}\,\widehat{Var}(\bar F), \qquad
        \widehat{Var}(\bar F) = \sum_j a_j^2\, \frac{d_j}{r_j (r_j - d_j)}, \quad
        a_j = \frac{1}{n}\sum_i \hat F(e_i)\, 1[e_i < s_j],

    with :math:`y_i` the converted-so-far flag of row :math:`i`, :math:`e_i` its elapsed
    time, :math:`\hat F` the delay curve (:class:`~receval.delayed.DelayDistribution`) and
    :math:`(s_j, d_j, r_j)` its steps. :math:`\widehat{Var}(\bar y)` is the CLT variance
    :math:`s_y^2 / n` (binomial for 0/1 rows), cluster-robust on ``group_ids`` when given;
    :math:`\widehat{Var}(\bar F)` is the delta method on
    :math:`\log \hat F(e) = \sum_{s_j > e} \log(1 - d_j / r_j)` with Greenwood's variance
    for each term. The two are added as independent: exact when the curve comes from other
    cohorts, conservative when it includes this cohort's purchases (they correlate the two
    positively). Rows with :math:`e_i \ge W` have :math:`\hat F = 1` exactly, so a mature
    cohort gets the naive rate, standard error and interval unchanged.

    The interval above is for :math:`\pi`, the rate the cohort's clicks convert at. The
    cohort's own *final* rate :math:`R = \frac{1}{n}\sum_i Y_i` (:math:`Y_i` the eventual
    label, :math:`y_i = Y_i A_i` with :math:`A_i \sim Bernoulli(F(e_i))` its arrival) shares
    the sampling noise of the purchases already seen, so the prediction interval of
    :math:`R` is narrower. With :math:`R - \hat\pi = \frac{1}{n}\sum_i Y_i (1 - A_i/\bar F)`
    (true curve), arrivals independent given the labels,

    .. math::

        \widehat{Var}(R - \hat\pi) = \frac{1}{n^2}\Big[\hat\pi \sum_i
            \frac{F_i (1 - F_i)}{\bar F^2} + \hat\pi (1 - \hat\pi) \sum_i
            \Big(1 - \frac{F_i}{\bar F}\Big)^2\Big]
            + \frac{\bar y^2}{\bar F^4}\,\widehat{Var}(\bar F),

    the late purchases' Bernoulli noise, the spread of the rows' arrival probabilities
    and the curve's term (:math:`\hat\pi` capped at 1).

    With ``n_bootstrap > 0`` a percentile bootstrap resamples the cohort's rows (or its
    ``group_ids`` clusters) and, independently, the curve's purchases, and re-estimates
    :math:`\hat F` on each replicate.

    Assumptions: those of the delay curve (the delay is independent of the click time and,
    within the curve's segment, of the cohort), and rows that convert independently of their
    elapsed time (clustered within ``group_ids``).

    Parameters
    ----------
    alpha : float, default 0.05
        Intervals have coverage ``1 - alpha``.
    n_bootstrap : int, default 0
        Bootstrap replicates (0: the delta-method interval only).
    random_state : None, int or numpy.random.Generator, default 0
        Seed of the bootstrap.

    The data go to :meth:`estimate_eventual_rate`.

    References
    ----------
    Chapelle, O. (2014). Modeling delayed feedback in display advertising. KDD '14,
    1097-1105. (the problem; its model-based correction is not this one)
    Greenwood, M. (1926). The natural duration of cancer. HMSO.
    Lynden-Bell, D. (1971). MNRAS 155(1), 95-118.
    Efron, B., Tibshirani, R. J. (1993). An Introduction to the Bootstrap. Chapman & Hall.
    """

    def __init__(self, *, alpha: float = 0.05, n_bootstrap: int = 0, random_state: Any = 0):
        self.alpha = v.check_alpha(alpha)
        self.n_bootstrap = v.check_int(n_bootstrap, "n_bootstrap", minimum=0)
        v.check_random_state(random_state)  # validate now, build the generator per call
        self.random_state = random_state

    def estimate_eventual_rate(self, converted: Any, elapsed: Any, delay_curve: DelayCurve,
                               group_ids: Any = None) -> EventualRate:
        """The corrected rate of one cohort.

        Parameters
        ----------
        converted : array-like of {0, 1}, shape (n,)
            Whether each row has an attributed purchase so far.
        elapsed : array-like of float, shape (n,)
            Hours from the row's click (for impressions: the impression; the click follows
            within minutes) to the data's end, >= 0.
        delay_curve : DelayCurve
            From :meth:`DelayDistribution.estimate_delay`, for the cohort's segment.
        group_ids : array-like, shape (n,), optional
            Cluster of each row (user): the unit of the numerator's standard error and of
            the bootstrap.

        Returns
        -------
        EventualRate
        """
        y = v.check_binary(converted, "converted").astype(np.float64)
        if y.size == 0:
            raise ValueError("`converted` is empty: the cohort has no rows")
        e = v.check_finite(elapsed, "elapsed", nonnegative=True)
        v.check_lengths(converted=y, elapsed=e)
        codes, n_groups = ((np.arange(y.size), y.size) if group_ids is None
                           else v.group_codes(group_ids, "group_ids", n=y.size, sort=True))
        if not isinstance(delay_curve, DelayCurve):
            raise ValueError(f"`delay_curve` must be a DelayCurve (DelayDistribution.estimate_delay), "
                             f"got {type(delay_curve).__name__}")
        f = delay_curve.cdf_at(e).cdf
        f_bar = float(f.mean())
        if f_bar == 0.0:
            raise ValueError(
                f"`elapsed`: every row is younger than the shortest delay of the curve "
                f"({delay_curve.times[0]:g} h), so no purchase can have arrived yet and the "
                f"eventual rate is not identified")
        naive = mean_with_clt(y, group_ids=None if group_ids is None else codes,
                              alpha=self.alpha, bounds=(0.0, 1.0))
        var_f = _arrival_variance(f, e, delay_curve)
        rate = naive.value / f_bar
        se = math.sqrt(naive.std_error ** 2 / f_bar ** 2 + naive.value ** 2 * var_f / f_bar ** 4)
        lo, hi = normal_interval(rate, se, self.alpha, (0.0, 1.0))
        pred_se = _prediction_std_error(min(rate, 1.0), naive.value, f, f_bar, var_f)
        pred_lo, pred_hi = normal_interval(rate, pred_se, self.alpha, (naive.value, 1.0))
        boot_lo = boot_hi = math.nan
        if self.n_bootstrap:
            _, boot_lo, boot_hi = percentile_interval(
                self._bootstrap(y, e, delay_curve, codes, n_groups), self.alpha)
        return EventualRate(
            estimate=rate, std_error=se, ci_low=lo, ci_high=hi, naive=naive.value,
            naive_std_error=naive.std_error, naive_ci_low=naive.ci_low,
            naive_ci_high=naive.ci_high, arrival_probability=f_bar,
            arrival_probability_std_error=math.sqrt(var_f), prediction_std_error=pred_se,
            prediction_low=pred_lo, prediction_high=pred_hi, n=int(y.size),
            n_groups=naive.n_groups, n_converted=int(y.sum()), alpha=self.alpha,
            bootstrap_ci_low=boot_lo, bootstrap_ci_high=boot_hi, n_bootstrap=self.n_bootstrap)

    def _bootstrap(self, y: np.ndarray, e: np.ndarray, curve: DelayCurve, codes: np.ndarray,
                   n_groups: int) -> np.ndarray:
        """Replicates of sum(w y) / sum(w F*(e)): rows (clusters ``codes``) and purchases
        resampled independently, F* the curve of the resampled purchases."""
        sample = TruncatedSample(curve.delay, curve.observable_time)
        step = np.searchsorted(sample.times, e, side="right")  # 0: below the shortest delay
        rng = v.check_random_state(self.random_state)
        rows = bootstrap_group_counts(n_groups, self.n_bootstrap, rng)
        purchases = bootstrap_group_counts(curve.n, self.n_bootstrap, rng)
        reps = np.empty(self.n_bootstrap)
        for b, (row_counts, purchase_counts) in enumerate(zip(rows, purchases)):
            w = row_counts[codes]
            den = w @ np.append(0.0, sample.cdf(purchase_counts))[step]
            reps[b] = (w @ y) / den if den > 0 else math.nan
        return reps


def _prediction_std_error(rate: float, naive: float, f: np.ndarray, f_bar: float, var_f: float) -> float:
    """Standard error of the corrected rate as a prediction of the cohort's final rate
    (class docstring): late purchases, spread of the arrival probabilities, curve."""
    n = f.size
    late = rate * float((f * (1.0 - f)).sum()) / f_bar ** 2
    spread = rate * (1.0 - rate) * float(((1.0 - f / f_bar) ** 2).sum())
    return math.sqrt((late + spread) / n ** 2 + naive ** 2 * var_f / f_bar ** 4)


def _arrival_variance(f: np.ndarray, e: np.ndarray, curve: DelayCurve) -> float:
    """Delta-method variance of mean(F(e_i)) from the curve's Greenwood terms."""
    order = np.argsort(e, kind="stable")
    cum_f = np.append(0.0, np.cumsum(f[order]))
    a = cum_f[np.searchsorted(e[order], curve.times, side="left")] / f.size  # rows with e < s_j
    _, green = greenwood_terms(curve.n_events, curve.n_at_risk)
    with np.errstate(invalid="ignore"):  # a == 0 where green is inf (below the first delay)
        return float(np.where(a > 0.0, a * a * green, 0.0).sum())
