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

import numpy as np

from receval.ope._core import (
    BaseEstimator, ClippedEstimator, Terms, logged_inputs, mean_terms, ratio_stat,
)
from receval.ope.results import OPEEstimate

__all__ = ["IPS", "SNIPS"]


class _WeightingEstimator(BaseEstimator):
    """An estimator of the logged rewards and their importance weights alone: subclasses
    give the :class:`~receval.ope._core.Terms` of ``(reward, weights)``."""

    inputs = ("reward", "p_log", "p_target")

    def _terms(self, r: np.ndarray, w: np.ndarray) -> Terms:
        raise NotImplementedError

    def _estimate(self, *, reward, p_log, p_target, group_ids, unsupported_mass) -> OPEEstimate:
        r, pl, pt = logged_inputs(reward=reward, p_log=p_log, p_target=p_target)
        w = self._weights(pl, pt)
        return self._result(self._terms(r, w), n_rounds=r.size, weights=w, group_ids=group_ids,
                            unsupported_mass=unsupported_mass)


class IPS(ClippedEstimator, _WeightingEstimator):
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

    The data go to :meth:`estimate_policy_value`: ``reward, p_log, p_target``, optionally
    ``group_ids`` (clusters of the standard error and the bootstrap) and
    ``unsupported_mass``.

    References
    ----------
    Horvitz, D. G., Thompson, D. J. (1952). A generalization of sampling without
    replacement from a finite universe. JASA 47(260), 663-685.
    Strehl, A., Langford, J., Li, L., Kakade, S. (2010). Learning from logged implicit
    exploration data. NeurIPS 23 (clipped propensities).
    Ionides, E. L. (2008). Truncated importance sampling. JCGS 17(2), 295-311.
    """

    name = "ips"

    def _terms(self, r: np.ndarray, w: np.ndarray) -> Terms:
        return mean_terms(w * r)


class SNIPS(_WeightingEstimator):
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
        As in :class:`IPS`; the data too (``reward, p_log, p_target``).

    References
    ----------
    Swaminathan, A., Joachims, T. (2015). The self-normalized estimator for
    counterfactual learning. NeurIPS 28.
    Hesterberg, T. (1995). Weighted average importance sampling and defensive mixture
    distributions. Technometrics 37(2), 185-194.
    """

    name = "snips"

    def _terms(self, r: np.ndarray, w: np.ndarray) -> Terms:
        sw = float(w.sum())
        wr = w * r
        if sw > 0:
            est = float(wr.sum()) / sw
            influence = w * (r - est) / (sw / r.size)
        else:
            est, influence = float("nan"), np.zeros_like(r)
        return Terms(est, influence, lambda: np.column_stack([wr, w]), ratio_stat(0, 1))
