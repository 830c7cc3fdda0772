"""Shared arithmetic for two-arm comparisons (private)."""
from __future__ import annotations

import math

import numpy as np
from scipy import stats

from receval.experiments.results import EffectEstimate


def two_sided(stat: float, df: float) -> float:
    """Two-sided p-value of a t (or, for ``df = inf``, normal) statistic."""
    if math.isinf(df):
        return float(2.0 * stats.norm.sf(abs(stat)))
    return float(2.0 * stats.t.sf(abs(stat), df))


def critical(alpha: float, df: float) -> float:
    """Two-sided critical value ``q_{1 - alpha/2}`` of a t or normal distribution."""
    if math.isinf(df):
        return float(stats.norm.ppf(1.0 - alpha / 2.0))
    return float(stats.t.ppf(1.0 - alpha / 2.0, df))


def welch_df(var_mean_c, var_mean_t, dof_c, dof_t):
    """Welch-Satterthwaite degrees of freedom from the variances of the two arm means and the
    degrees of freedom each variance was estimated with (``n - 1`` for a sample variance);
    elementwise for arrays, infinite where both variances are 0."""
    num = (np.asarray(var_mean_c) + var_mean_t) ** 2
    den = np.asarray(var_mean_c) ** 2 / dof_c + np.asarray(var_mean_t) ** 2 / dof_t
    with np.errstate(divide="ignore", invalid="ignore"):
        df = np.where(den > 0, num / den, np.inf)
    return float(df) if df.ndim == 0 else df


def relative_se(mean_c: float, mean_t: float, var_c: float, var_t: float) -> float:
    """Delta-method SE of ``mean_t / mean_c - 1`` for independent arms.

    Var(T/C) ~= Var(T) / C^2 + T^2 Var(C) / C^4.
    """
    if mean_c == 0:
        return math.nan
    return math.sqrt(var_t / mean_c**2 + mean_t**2 * var_c / mean_c**4)


def build_estimate(
    *,
    metric: str,
    method: str,
    mean_c: float,
    mean_t: float,
    var_c: float,
    var_t: float,
    n_c: int,
    n_t: int,
    alpha: float,
    df: float,
    cls: type = EffectEstimate,
    **extra,
):
    """Effect, SE, interval and p-value from arm estimates and their (independent) variances.

    ``var_c`` and ``var_t`` are the variances of the arm-level estimates, not of the data.
    """
    effect = mean_t - mean_c
    se = math.sqrt(var_c + var_t)
    if se > 0:
        p = two_sided(effect / se, df)
        half = critical(alpha, df) * se
    else:  # both arms constant: the difference is known exactly
        p = 1.0 if effect == 0 else 0.0
        half = 0.0
    rel = mean_t / mean_c - 1.0 if mean_c != 0 else math.nan
    rse = relative_se(mean_c, mean_t, var_c, var_t)
    zq = critical(alpha, math.inf)
    return cls(
        metric=metric,
        method=method,
        control_mean=float(mean_c),
        treatment_mean=float(mean_t),
        effect=float(effect),
        relative_effect=float(rel),
        std_error=float(se),
        ci_low=float(effect - half),
        ci_high=float(effect + half),
        relative_std_error=float(rse),
        relative_ci_low=float(rel - zq * rse),
        relative_ci_high=float(rel + zq * rse),
        p_value=float(p),
        n_control=int(n_c),
        n_treatment=int(n_t),
        alpha=float(alpha),
        df=float(df),
        **extra,
    )


def sample_var(x: np.ndarray) -> float:
    return float(np.var(x, ddof=1))


def z_critical(alpha: float) -> float:
    """Two-sided standard-normal critical value :math:`z_{1-\\alpha/2}`."""
    return critical(alpha, math.inf)


def order_statistic_interval(x_sorted: np.ndarray, q: float, alpha: float) -> tuple[float, float]:
    r"""Distribution-free two-sided ``1 - alpha`` interval of the ``q`` quantile.

    For sorted observations :math:`x_{(1)} \le \dots \le x_{(n)}` the interval is
    :math:`[x_{(l)}, x_{(u)}]` with the binomial ranks (normal approximation, clipped to
    ``1..n``)

    .. math::

        l = \lfloor nq - z_{1-\alpha/2}\sqrt{nq(1-q)} \rfloor, \qquad
        u = \lceil nq + z_{1-\alpha/2}\sqrt{nq(1-q)} \rceil,

    and :math:`(x_{(u)} - x_{(l)}) / (2 z_{1-\alpha/2})` estimates the quantile's
    standard error (the order-statistic form of the delta method for quantiles).

    References
    ----------
    Conover, W. J. (1999). Practical Nonparametric Statistics, 3rd ed., section 3.2.
    Deng, A., Knoblich, U., Lu, J. (2018). Applying the Delta Method in Metric Analytics:
    A Practical Guide with Novel Ideas. KDD 2018, section 3.3.
    """
    n = x_sorted.size
    half = z_critical(alpha) * math.sqrt(n * q * (1 - q))
    lo = int(min(max(math.floor(n * q - half), 1), n)) - 1
    hi = int(min(max(math.ceil(n * q + half), 1), n)) - 1
    return float(x_sorted[lo]), float(x_sorted[hi])
