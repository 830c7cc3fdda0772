r"""Product-limit estimators: Kaplan-Meier for right-censored times, and the reverse-time
(Lynden-Bell) product-limit estimator of the click-to-purchase delay distribution.

Why the delay needs the reverse-time estimator
----------------------------------------------
The data of the delay curve are the purchases seen so far, one row per attributed purchase:
its delay :math:`D_i` (click to purchase) and its *observable time*
:math:`O_i = \min(\text{data end} - \text{click time},\ W)` (``W``: the attribution
window). A purchase is in the data only when :math:`D_i \le O_i`; a purchase that will
arrive later is not a row at all, and nothing tells it apart from a click that never
converts. That is **right truncation**, not censoring: a censored row is known to exist and
to last beyond its censoring time, a truncated one is missing. Kaplan-Meier on the observed
delays (every row an event) over-represents short delays, because a young click shows only
its short ones.

Read backwards in time, right truncation becomes left truncation (delayed entry), for
which the product-limit estimator is the nonparametric maximum likelihood estimator
(Lynden-Bell 1971; Woodroofe 1985; Lagakos, Barraj & De Gruttola 1988). With the distinct
observed delays :math:`s_1 < \dots < s_m`, :math:`d_j` purchases at :math:`s_j` and the
reverse risk set :math:`r_j = \#\{i: D_i \le s_j \le O_i\}` (purchases that could have
been seen with delay :math:`s_j`), the reverse hazard
:math:`P(D = s_j \mid D \le s_j) = d_j / r_j` gives

.. math::

    \hat F(t) = \prod_{j:\ s_j > t} \Big(1 - \frac{d_j}{r_j}\Big), \qquad
    \widehat{Var}\big(\log \hat F(t)\big) = \sum_{j:\ s_j > t} \frac{d_j}{r_j (r_j - d_j)},

where :math:`F(t) = P(D \le t \mid D \le W)`: the distribution of the delay among
attributed purchases (so :math:`\hat F(W) = 1`). The variance is Greenwood's (1926)
formula in reverse time.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from scipy import stats

from receval import _validation as v

__all__ = [
    "HOUR", "DAY", "DEFAULT_HORIZONS", "SurvivalCurve", "CdfPoints", "DelayQuantiles",
    "DelayCurve", "kaplan_meier", "DelayDistribution",
]

HOUR = 1.0  # delays are in hours, as int_labels__impressions.hours_click_to_purchase
DAY = 24.0 * HOUR
DEFAULT_HORIZONS = (1 * HOUR, 1 * DAY, 3 * DAY, 7 * DAY)


# ------------------------------------------------------------------- shared core
def greenwood_terms(n_events: np.ndarray, n_at_risk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per step: the factor ``1 - d/r`` and Greenwood's ``d / (r (r - d))`` (``inf`` where
    ``r == d``). Steps without events (a bootstrap weight of 0) give 1 and 0."""
    d, r = n_events, n_at_risk
    has = d > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(has, 1.0 - d / r, 1.0)
        green = np.where(has, d / (r * (r - d)), 0.0)
    return factor, green


def _loglog_interval(p: np.ndarray, var_log: np.ndarray, alpha: float,
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Greenwood standard error ``p sqrt(var_log)`` and the log-log interval
    :math:`p^{\exp(\pm z \sqrt{V} / \log p)}`, inside [0, 1]; degenerate where p is 0 or 1."""
    z = stats.norm.ppf(1.0 - alpha / 2.0)
    inner = (p > 0.0) & (p < 1.0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        c = z * np.sqrt(var_log) / np.log(p)  # <= 0 inside (0, 1)
        lower = np.where(inner, p ** np.exp(-c), p)
        upper = np.where(inner, p ** np.exp(c), p)
        se = np.where(p > 0.0, p * np.sqrt(var_log), 0.0)
    return se, lower, upper


# ---------------------------------------------------------------- Kaplan-Meier
@dataclass(frozen=True)
class SurvivalCurve:
    """A Kaplan-Meier curve at its distinct event times.

    Attributes
    ----------
    times : ndarray
        Distinct event times :math:`t_j`, increasing.
    survival : ndarray
        :math:`\\hat S(t_j)`; the curve is a right-continuous step function.
    std_error : ndarray
        Greenwood standard error of :math:`\\hat S(t_j)`.
    ci_low, ci_high : ndarray
        Pointwise log-log ``1 - alpha`` interval.
    n_at_risk, n_events : ndarray
        :math:`r_j` and :math:`d_j`.
    alpha : float
        Significance level of the intervals.
    """

    times: np.ndarray
    survival: np.ndarray
    std_error: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    n_at_risk: np.ndarray
    n_events: np.ndarray
    alpha: float


def kaplan_meier(time: Any, event: Any, *, alpha: float = 0.05) -> SurvivalCurve:
    r"""Kaplan-Meier estimate of a survival function from right-censored times.

    .. math::

        \hat S(t) = \prod_{j:\ t_j \le t}\Big(1 - \frac{d_j}{r_j}\Big), \qquad
        \widehat{Var}\big(\hat S(t)\big) = \hat S(t)^2 \sum_{j:\ t_j \le t}
            \frac{d_j}{r_j (r_j - d_j)},

    with :math:`d_j` events at the distinct event time :math:`t_j` and
    :math:`r_j = \#\{i: T_i \ge t_j\}` units at risk (a unit censored at :math:`t_j` is
    at risk at :math:`t_j`). The pointwise interval is the log-log one,
    :math:`\hat S^{\exp(\pm z_{1-\alpha/2}\, \hat\sigma / \log \hat S)}` with
    :math:`\hat\sigma^2` the Greenwood sum, which stays inside [0, 1].

    Assumes censoring independent of the event time.

    Parameters
    ----------
    time : array-like, shape (n,)
        Event or censoring time of each unit, >= 0.
    event : array-like of {0, 1}, shape (n,)
        1 where the event was observed at ``time``, 0 where the unit was censored.
    alpha : float, default 0.05
        Intervals have coverage ``1 - alpha``.

    Returns
    -------
    SurvivalCurve

    References
    ----------
    Kaplan, E. L., Meier, P. (1958). Nonparametric estimation from incomplete
    observations. JASA 53(282), 457-481.
    Greenwood, M. (1926). The natural duration of cancer. Reports on Public Health and
    Medical Subjects 33. HMSO, London.
    Kalbfleisch, J. D., Prentice, R. L. (2002). The Statistical Analysis of Failure Time
    Data, 2nd ed. Wiley. (the log-log interval)
    """
    alpha = v.check_alpha(alpha)
    t = v.check_finite(time, "time", nonnegative=True)
    e = v.check_binary(event, "event")
    v.check_lengths(time=t, event=e)
    if not e.any():
        raise ValueError("`event` has no 1: every unit is censored, there is no step to estimate")
    times, inv = np.unique(t, return_inverse=True)
    n_events = np.bincount(inv, weights=e, minlength=times.size)
    n_at_risk = np.cumsum(np.bincount(inv, minlength=times.size)[::-1])[::-1].astype(np.float64)
    keep = n_events > 0
    times, n_events, n_at_risk = times[keep], n_events[keep], n_at_risk[keep]
    factor, green = greenwood_terms(n_events, n_at_risk)
    survival = np.cumprod(factor)
    se, lower, upper = _loglog_interval(survival, np.cumsum(green), alpha)
    return SurvivalCurve(times, survival, se, lower, upper, n_at_risk, n_events, alpha)


# ---------------------------------------------------- the delay distribution
@dataclass(frozen=True)
class CdfPoints:
    """The delay CDF at given delays: :math:`\\hat F`, its Greenwood standard error and
    its pointwise log-log ``1 - alpha`` interval (arrays aligned with ``delay``)."""

    delay: np.ndarray
    cdf: np.ndarray
    std_error: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    alpha: float


@dataclass(frozen=True)
class DelayQuantiles:
    """Delay quantiles :math:`\\hat q_p = \\min\\{s_j: \\hat F(s_j) \\ge p\\}` with the
    Brookmeyer-Crowley interval (arrays aligned with ``level``)."""

    level: np.ndarray
    delay: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    alpha: float


@dataclass(frozen=True)
class DelayCurve:
    """The estimated delay distribution among attributed purchases.

    Attributes
    ----------
    times : ndarray
        Distinct observed delays :math:`s_j` (hours), increasing.
    cdf : ndarray
        :math:`\\hat F(s_j) = \\hat P(D \\le s_j \\mid D \\le W)`; a right-continuous step
        function, 0 below :math:`s_1` and 1 from :math:`s_m` on.
    std_error, ci_low, ci_high : ndarray
        Greenwood standard error and the pointwise log-log ``1 - alpha`` interval.
    n_at_risk, n_events : ndarray
        Reverse risk sets :math:`r_j` and purchases :math:`d_j` at each :math:`s_j`.
    horizons : CdfPoints
        The share of purchases arrived within each horizon (default 1 h, 1 d, 3 d, 7 d).
    quantiles : DelayQuantiles
        Delay quantiles (default median and p90).
    window : float
        Attribution window :math:`W` (hours).
    alpha : float
        Significance level of the intervals.
    n : int
        Purchases behind the curve.
    delay, observable_time : ndarray
        The sample (observable time capped at ``window``), kept for the bootstrap of
        :class:`~receval.delayed.SurvivalReweighting`.
    """

    times: np.ndarray
    cdf: np.ndarray
    std_error: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    n_at_risk: np.ndarray
    n_events: np.ndarray
    horizons: CdfPoints
    quantiles: DelayQuantiles
    window: float
    alpha: float
    n: int
    delay: np.ndarray = field(repr=False)
    observable_time: np.ndarray = field(repr=False)

    def cdf_at(self, delay: Any) -> CdfPoints:
        """:math:`\\hat F` at any delays (hours), with the interval of its step."""
        t = v.check_finite(delay, "delay", min_size=0)
        idx = np.searchsorted(self.times, t, side="right")  # 0: below the shortest delay
        cols = (np.append(0.0, a)[idx] for a in (self.cdf, self.std_error, self.ci_low, self.ci_high))
        return CdfPoints(t, *cols, alpha=self.alpha)

    def quantile(self, level: Any) -> DelayQuantiles:
        r"""Delay quantiles with the Brookmeyer-Crowley interval: the delays at which the
        pointwise interval of :math:`F` first reaches ``level`` (upper bound of the
        interval of :math:`F` for the low end, lower bound for the high end)."""
        p = v.check_finite(level, "level", min_size=0)
        if ((p <= 0.0) | (p >= 1.0)).any():
            raise ValueError(f"`level` must be in (0, 1), got {p.tolist()}")
        # The first step where each curve reaches p (a running max: searchsorted needs a
        # sorted array, and the bounds need not be monotone); F(s_m) = 1 is always reached.
        q, lo, hi = (self.times[np.searchsorted(np.maximum.accumulate(c), p, side="left")]
                     for c in (self.cdf, self.ci_high, self.ci_low))
        return DelayQuantiles(p, q, lo, hi, self.alpha)


class TruncatedSample:
    """A delay sample indexed once (distinct delays, where each observable time ends), so
    that the product-limit counts of any reweighting of it (a bootstrap resample) are two
    ``bincount`` calls."""

    def __init__(self, delay: np.ndarray, observable_time: np.ndarray):
        self.times, self._at = np.unique(delay, return_inverse=True)
        # First step s_j > O_i: from there on, purchase i is out of the reverse risk set.
        self._out = np.searchsorted(self.times, observable_time, side="right")

    def counts(self, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(d_j, r_j)``: weighted purchases at each :math:`s_j`, and
        :math:`r_j = \\sum_i w_i (1[D_i \\le s_j] - 1[O_i < s_j])`."""
        m = self.times.size
        d = np.bincount(self._at, weights, minlength=m).astype(np.float64)
        out = np.bincount(self._out, weights, minlength=m + 1)[:m]
        return d, np.cumsum(d) - np.cumsum(out)

    def cdf(self, weights: np.ndarray | None = None) -> np.ndarray:
        """:math:`\\hat F(s_j)` of the (reweighted) sample."""
        factor, _ = greenwood_terms(*self.counts(weights))
        return _reverse_cumprod(factor)


def _reverse_cumprod(x: np.ndarray) -> np.ndarray:
    """``out[j] = prod(x[j + 1:])`` (1 for the last)."""
    return np.append(np.cumprod(x[::-1])[::-1][1:], 1.0)


class DelayDistribution:
    r"""Click-to-purchase delay distribution among attributed purchases, from right-truncated
    data: the reverse-time (Lynden-Bell) product-limit estimator.

    Each row is an attributed purchase seen so far: its delay :math:`D_i` and the time its
    click could be observed, :math:`O_i = \min(\text{data end} - \text{click time}, W)`
    (passed uncapped is fine: it is capped at ``window``). A purchase is seen only when
    :math:`D_i \le O_i`, so the sample is *right-truncated*: purchases still to come are
    missing, not censored (see the module docstring). With the distinct delays
    :math:`s_1 < \dots < s_m`, :math:`d_j` purchases at :math:`s_j` and the reverse risk set
    :math:`r_j = \#\{i: D_i \le s_j \le O_i\}`,

    .. math::

        \hat F(t) = \prod_{j:\ s_j > t}\Big(1 - \frac{d_j}{r_j}\Big), \qquad
        \widehat{SE}\big(\hat F(t)\big) = \hat F(t)\Big(\sum_{j:\ s_j > t}
            \frac{d_j}{r_j (r_j - d_j)}\Big)^{1/2},

    estimating :math:`F(t) = P(D \le t \mid D \le W)` (so :math:`\hat F(W) = 1`). The
    pointwise interval is the log-log one, :math:`\hat F^{\exp(\pm z \hat\sigma / \log
    \hat F)}` (:math:`\hat\sigma`: the square root of the Greenwood sum), inside [0, 1].
    Quantiles :math:`\hat q_p = \min\{s_j: \hat F(s_j) \ge p\}` get the Brookmeyer-Crowley
    interval (the delays where the pointwise interval of :math:`F` contains :math:`p`).

    Assumption (quasi-independence): the delay is independent of the click time, i.e. the
    delay curve is the same for old and recent clicks (stationarity; estimate one curve per
    segment when it differs between segments). Under it the estimator is the
    nonparametric MLE and consistent. The curve on :math:`(\max_i O_i, W]` is identified
    only by clicks whose window has closed (:math:`O_i = W`); a sample without any is
    rejected. The simulator meets both: its delay does not depend on the click time, and
    its history is longer than :math:`W`.

    Parameters
    ----------
    window : float, default 168.0
        Attribution window :math:`W` in hours (the dbt var ``attribution_window_days`` × 24).
    horizons : array-like of float, default (1, 24, 72, 168)
        Delays (hours) at which :attr:`DelayCurve.horizons` reports :math:`\hat F`.
    quantile_levels : array-like of float in (0, 1), default (0.5, 0.9)
        Levels of :attr:`DelayCurve.quantiles`.
    alpha : float, default 0.05
        Intervals have pointwise coverage ``1 - alpha``.

    The data go to :meth:`estimate_delay`.

    References
    ----------
    Lynden-Bell, D. (1971). A method of allowing for known observational selection in small
    samples applied to 3CR quasars. MNRAS 155(1), 95-118.
    Woodroofe, M. (1985). Estimating a distribution function with truncated data. Annals of
    Statistics 13(1), 163-177.
    Lagakos, S. W., Barraj, L. M., De Gruttola, V. (1988). Nonparametric analysis of
    truncated survival data, with application to AIDS. Biometrika 75(3), 515-523.
    Kaplan, E. L., Meier, P. (1958). JASA 53(282), 457-481; Greenwood, M. (1926). HMSO.
    Brookmeyer, R., Crowley, J. (1982). A confidence interval for the median survival
    time. Biometrics 38(1), 29-41.
    """

    def __init__(self, window: float = 7 * DAY, *, horizons: Any = DEFAULT_HORIZONS,
                 quantile_levels: Any = (0.5, 0.9), alpha: float = 0.05):
        self.window = v.check_positive(window, "window")
        self.horizons = v.check_finite(horizons, "horizons", min_size=0, nonnegative=True)
        self.quantile_levels = v.check_finite(quantile_levels, "quantile_levels", min_size=0)
        if ((self.quantile_levels <= 0.0) | (self.quantile_levels >= 1.0)).any():
            raise ValueError(f"`quantile_levels` must be in (0, 1), got {self.quantile_levels.tolist()}")
        self.alpha = v.check_alpha(alpha)

    def estimate_delay(self, delay: Any, observable_time: Any) -> DelayCurve:
        """The delay curve, its horizons and quantiles from one row per seen purchase.

        Parameters
        ----------
        delay : array-like, shape (n,)
            Click-to-purchase delay (hours) of each attributed purchase, in [0, window].
        observable_time : array-like, shape (n,)
            Data end minus the click time (hours), >= ``delay``; capped at ``window``.

        Returns
        -------
        DelayCurve
        """
        d = v.check_finite(delay, "delay", nonnegative=True)
        o = v.check_finite(observable_time, "observable_time", nonnegative=True)
        v.check_lengths(delay=d, observable_time=o)
        v.first_violation(d > self.window, "delay", d, f"is above the attribution window "
                         f"({self.window:g} h): only attributed purchases belong in the sample")
        v.first_violation(o < d, "observable_time", o, "is below its purchase's `delay`: a "
                         "purchase is seen only when it arrived within the observable time")
        o = np.minimum(o, self.window)
        if o.max() < self.window:
            raise ValueError(
                f"`observable_time` never reaches the window ({self.window:g} h; max "
                f"{o.max():g}): no click's window has closed, so the delay curve beyond "
                f"{o.max():g} h is not identified")
        sample = TruncatedSample(d, o)
        n_events, n_at_risk = sample.counts()
        factor, green = greenwood_terms(n_events, n_at_risk)
        cdf = _reverse_cumprod(factor)
        var_log = np.append(np.cumsum(green[::-1])[::-1][1:], 0.0)
        se, lower, upper = _loglog_interval(cdf, var_log, self.alpha)
        curve = DelayCurve(sample.times, cdf, se, lower, upper, n_at_risk, n_events,
                           horizons=None, quantiles=None, window=self.window, alpha=self.alpha,
                           n=int(d.size), delay=d, observable_time=o)
        return replace(curve, horizons=curve.cdf_at(self.horizons),
                       quantiles=curve.quantile(self.quantile_levels))

