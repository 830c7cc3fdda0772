r"""Inverse propensity scoring: IPS, clipped IPS and self-normalised IPS (SNIPS).

Data are one row per logged round :math:`i = 1..n`: the observed reward :math:`r_i`, the
logging propensity :math:`\mu(a_i|x_i)` of the logged action (``p_log``) and the target
probability :math:`\pi(a_i|x_i)` of the same action (``p_target``). The importance weight
is :math:`w_i = \pi(a_i|x_i) / \mu(a_i|x_i)`.

Assumptions shared by all three: rounds are independent draws of (context, logged action,
reward) under the logging policy (or independent clusters when ``group_ids`` are given);
logged propensities are the true ones; the reward of a round does not depend on other
rounds' actions; and *common support* -- the logging policy gives positive probability to
every action the target policy can take. Target mass outside the support is invisible to
these estimators (report it with ``unsupported_mass``; see
:func:`receval.ope.diagnostics.unsupported_mass`).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from receval.ope import _validation as v
from receval.ope._core import BaseEstimator, ClippedEstimator, ratio_stat
from receval.ope.results import OPEEstimate

__all__ = ["IPS", "SNIPS"]


def _inputs(reward, p_log, p_target) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r = v.check_finite(reward, "reward")
    pl = v.check_propensity(p_log, "p_log")
    pt = v.check_probability(p_target, "p_target")
    v.check_lengths(reward=r, p_log=pl, p_target=pt)
    return r, pl, pt


class IPS(ClippedEstimator):
    r"""Inverse propensity scoring (Horvitz-Thompson), optionally clipped.

    .. math::

        \hat V_{\mathrm{IPS}} = \frac{1}{n}\sum_{i=1}^n w_i r_i, \qquad
        w_i = \min\!\Big(\frac{\pi(a_i|x_i)}{\mu(a_i|x_i)},\ \lambda\Big),

    with :math:`\lambda = \infty` (no clipping) by default. Unclipped, the estimator is
    unbiased under common support; clipping at :math:`\lambda` trades a downward bias
    (for non-negative rewards) for bounded variance. The analytic standard error is the
    sample standard deviation of :math:`w_i r_i` over :math:`\sqrt n` (or clustered on
    ``group_ids``).

    Parameters
    ----------
    clip : float or None, default None
        Clipping threshold :math:`\lambda > 0` on the weights; ``None`` or ``inf`` = none.
    alpha : float, default 0.05
        Intervals have nominal coverage ``1 - alpha``.
    n_bootstrap : int, default 0
        Percentile bootstrap replicates (0: analytic interval only).
    random_state : None, int or numpy.random.Generator, default 0
        Seed of the bootstrap.

    References
    ----------
    Horvitz, D. G., Thompson, D. J. (1952). A generalization of sampling without
    replacement from a finite universe. JASA 47(260), 663-685.
    Strehl, A., Langford, J., Li, L., Kakade, S. (2010). Learning from logged implicit
    exploration data. NeurIPS 23 (clipped propensities).
    Ionides, E. L. (2008). Truncated importance sampling. JCGS 17(2), 295-311.
    """

    name = "ips"

    def estimate_policy_value(
        self,
        reward: Any,
        p_log: Any,
        p_target: Any,
        *,
        group_ids: Any = None,
        unsupported_mass: Any = None,
    ) -> OPEEstimate:
        """Estimate the target policy's expected reward per round.

        Parameters
        ----------
        reward : array-like of float, shape (n,)
            Observed reward of each logged round (click, purchase, revenue).
        p_log : array-like of float in (0, 1], shape (n,)
            Logging propensity of the logged action.
        p_target : array-like of float in [0, 1], shape (n,)
            Target policy's probability of the logged action.
        group_ids : array-like, shape (n,), optional
            Cluster ids (request or user); the standard error and bootstrap are then over
            clusters.
        unsupported_mass : float or array-like of float in [0, 1], optional
            Target mass without logged support (scalar or per round), reported as is.

        Returns
        -------
        OPEEstimate
        """
        r, pl, pt = _inputs(reward, p_log, p_target)
        w = pt / pl
        if self.clip is not None:
            np.minimum(w, self.clip, out=w)
        c = w * r
        est = float(c.mean())
        return self._result(
            estimator="clipped_ips" if self.clip is not None else self.name,
            estimate=est,
            influence=c - est,
            n_rounds=r.size,
            weights=w,
            components=lambda: np.column_stack([c, np.ones_like(c)]),
            statistic=ratio_stat(0, 1),
            group_ids=group_ids,
            unsupported_mass=unsupported_mass,
            clip=self.clip,
        )


class SNIPS(BaseEstimator):
    r"""Self-normalised inverse propensity scoring.

    .. math::

        \hat V_{\mathrm{SNIPS}} = \frac{\sum_{i=1}^n w_i r_i}{\sum_{i=1}^n w_i},
        \qquad w_i = \frac{\pi(a_i|x_i)}{\mu(a_i|x_i)}.

    Biased by :math:`O(1/n)` but consistent, invariant to adding a constant to the
    reward, and usually of much lower variance than IPS. The analytic standard error is
    the delta-method one for a ratio of means,

    .. math::

        \widehat{SE}^2 = \frac{1}{n(n-1)} \sum_i
            \Big(\frac{w_i (r_i - \hat V)}{\bar w}\Big)^2 .

    The estimate is undefined (``nan``) when every weight is 0 (the target policy never
    takes any logged action).

    Parameters
    ----------
    alpha, n_bootstrap, random_state
        As in :class:`IPS`.

    References
    ----------
    Swaminathan, A., Joachims, T. (2015). The self-normalized estimator for
    counterfactual learning. NeurIPS 28.
    Hesterberg, T. (1995). Weighted average importance sampling and defensive mixture
    distributions. Technometrics 37(2), 185-194.
    """

    name = "snips"

    def estimate_policy_value(
        self,
        reward: Any,
        p_log: Any,
        p_target: Any,
        *,
        group_ids: Any = None,
        unsupported_mass: Any = None,
    ) -> OPEEstimate:
        """Estimate the target policy's expected reward per round.

        Parameters are those of :meth:`IPS.estimate_policy_value`.

        Returns
        -------
        OPEEstimate
        """
        r, pl, pt = _inputs(reward, p_log, p_target)
        w = pt / pl
        sw = float(w.sum())
        wr = w * r
        if sw > 0:
            est = float(wr.sum()) / sw
            influence = w * (r - est) / (sw / r.size)
        else:
            est, influence = float("nan"), np.zeros_like(r)
        return self._result(
            estimator=self.name,
            estimate=est,
            influence=influence,
            n_rounds=r.size,
            weights=w,
            components=lambda: np.column_stack([wr, w]),
            statistic=ratio_stat(0, 1),
            group_ids=group_ids,
            unsupported_mass=unsupported_mass,
        )
