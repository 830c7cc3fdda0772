r"""Importance-weight and support diagnostics for off-policy estimates.

A weighting estimator is only as good as its weights: a small effective sample size or a
large maximum weight means a few rounds drive the estimate, and target probability mass
on actions the logging policy never takes is invisible to IPS-type estimators (they are
then biased, by up to that mass times the reward range, whatever the sample size).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from receval import _validation as v

__all__ = [
    "effective_sample_size",
    "importance_weights",
    "support_gaps",
    "unsupported_mass",
    "weight_summary",
]


def importance_weights(p_log: Any, p_target: Any, clip: float | None = None) -> np.ndarray:
    r"""Importance weights :math:`w_i = \min(\pi(a_i|x_i) / \mu(a_i|x_i),\ \lambda)`.

    Parameters
    ----------
    p_log : array-like of float in (0, 1]
        Probability that the logging policy :math:`\mu` took the logged action.
    p_target : array-like of float in [0, 1]
        Probability that the target policy :math:`\pi` takes the logged action.
    clip : float or None
        Clipping threshold :math:`\lambda > 0` (``None``: no clipping).
    """
    pl = v.check_propensity(p_log, "p_log")
    pt = v.check_probability(p_target, "p_target")
    v.check_lengths(p_log=pl, p_target=pt)
    w = pt / pl
    c = v.check_clip(clip)
    if c is not None:
        np.minimum(w, c, out=w)
    return w


def effective_sample_size(weights: Any) -> float:
    r"""Kish's effective sample size :math:`(\sum_i w_i)^2 / \sum_i w_i^2`.

    Equals ``n`` when all weights are equal and falls towards 1 as one weight dominates.
    Returns 0 when every weight is 0.

    References
    ----------
    Kish, L. (1965). Survey Sampling. Wiley. (Used for importance sampling by
    Owen, A. B. (2013), Monte Carlo theory, methods and examples, ch. 9.)
    """
    w = v.check_finite(weights, "weights")
    s2 = float(np.dot(w, w))
    if s2 == 0.0:
        return 0.0
    s = float(w.sum())
    return s * s / s2


def weight_summary(weights: Any) -> dict[str, float]:
    """``{"effective_sample_size", "max_weight", "mean_weight", "share_zero"}`` of the weights."""
    w = v.check_finite(weights, "weights")
    return {
        "effective_sample_size": effective_sample_size(w),
        "max_weight": float(w.max()),
        "mean_weight": float(w.mean()),
        "share_zero": float(np.mean(w == 0.0)),
    }


def _check_dists(target_dist: Any, logging_dist: Any) -> tuple[np.ndarray, np.ndarray]:
    pi = np.asarray(target_dist, dtype=np.float64)
    mu = np.asarray(logging_dist, dtype=np.float64)
    for name, a in (("target_dist", pi), ("logging_dist", mu)):
        if a.ndim != 2:
            raise ValueError(f"`{name}` must be 2-D (rounds x actions), got shape {a.shape}")
        if a.size == 0:
            raise ValueError(f"`{name}` is empty")
        if not np.isfinite(a).all():
            raise ValueError(f"`{name}` contains NaN or infinite values")
        if (a < 0).any() or (a > 1).any():
            raise ValueError(f"`{name}` must hold probabilities in [0, 1]")
    if pi.shape != mu.shape:
        raise ValueError(
            f"`target_dist` and `logging_dist` must have the same shape, got {pi.shape} "
            f"and {mu.shape}"
        )
    return pi, mu


def unsupported_mass(target_dist: Any, logging_dist: Any, *, tol: float = 0.0) -> np.ndarray:
    r"""Per-round target mass on actions without logged support.

    .. math:: u_i = \sum_a \pi(a|x_i)\, 1[\mu(a|x_i) \le \mathrm{tol}]

    Parameters
    ----------
    target_dist, logging_dist : array-like, shape (n_rounds, n_actions)
        Action distributions of the target and the logging policy in each logged context
        (for rankings: per-(item, position) marginals, one column per slot).
    tol : float, default 0
        Logging probabilities at or below ``tol`` count as no support.

    Returns
    -------
    numpy.ndarray, shape (n_rounds,)
        Pass its mean (or the array) to an estimator's ``unsupported_mass`` argument to
        have it reported with the estimate.
    """
    pi, mu = _check_dists(target_dist, logging_dist)
    return (pi * (mu <= tol)).sum(axis=1)


def support_gaps(target_dist: Any, logging_dist: Any, *, tol: float = 0.0) -> dict[str, Any]:
    """Summary of missing support.

    Returns
    -------
    dict
        ``unsupported_mass`` (mean per-round mass, as in :func:`unsupported_mass`),
        ``max_unsupported_mass``, ``share_rounds_with_gap`` (rounds with any unsupported
        target mass), ``unsupported_actions`` (indices of actions the target plays with
        positive probability somewhere but the logging policy never plays in those rounds)
        and ``n``.
    """
    pi, mu = _check_dists(target_dist, logging_dist)
    gap = pi * (mu <= tol)
    per_round = gap.sum(axis=1)
    return {
        "unsupported_mass": float(per_round.mean()),
        "max_unsupported_mass": float(per_round.max()),
        "share_rounds_with_gap": float(np.mean(per_round > 0)),
        "unsupported_actions": tuple(int(a) for a in np.flatnonzero((gap > 0).any(axis=0))),
        "n": int(pi.shape[0]),
    }


def mean_unsupported(value: Any, n: int) -> float:
    """Scalar or per-round unsupported mass -> its mean, checked (private helper)."""
    if value is None:
        return math.nan
    if np.ndim(value) == 0:
        x = float(value)
        if not 0.0 <= x <= 1.0:
            raise ValueError(f"`unsupported_mass` must be in [0, 1], got {x}")
        return x
    arr = v.check_probability(value, "unsupported_mass")
    if arr.shape[0] != n:
        raise ValueError(
            f"`unsupported_mass` must be a scalar or one value per round: got {arr.shape[0]}, "
            f"expected {n}"
        )
    return float(arr.mean())
