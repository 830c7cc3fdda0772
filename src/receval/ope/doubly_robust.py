r"""Doubly robust (DR) and self-normalised doubly robust (SNDR) estimators.

DR combines the direct method's reward model with an importance-weighted correction of
its error on the logged action, so it is unbiased when *either* the logged propensities
or the reward model are correct, and its variance is small when the model is good.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from receval.ope import _validation as v
from receval.ope._core import BaseEstimator, ClippedEstimator
from receval.ope.results import OPEEstimate

__all__ = ["DoublyRobust", "SelfNormalizedDoublyRobust"]


def _inputs(reward, p_log, p_target, q_hat_logged, q_hat_target):
    r = v.check_finite(reward, "reward")
    pl = v.check_propensity(p_log, "p_log")
    pt = v.check_probability(p_target, "p_target")
    ql = v.check_finite(q_hat_logged, "q_hat_logged")
    qt = v.check_finite(q_hat_target, "q_hat_target")
    v.check_lengths(reward=r, p_log=pl, p_target=pt, q_hat_logged=ql, q_hat_target=qt)
    return r, pl, pt, ql, qt


def _sum_stat(s: np.ndarray) -> np.ndarray:
    return s[:, 0] / s[:, 1]


def _sndr_stat(s: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = s[:, 0] / s[:, 3] + s[:, 1] / s[:, 2]
    out[s[:, 2] == 0] = np.nan
    return out


class DoublyRobust(ClippedEstimator):
    r"""Doubly robust estimator.

    .. math::

        \hat V_{\mathrm{DR}} = \frac{1}{n}\sum_{i=1}^n \Big[\hat q(x_i, \pi)
            + w_i \big(r_i - \hat q(x_i, a_i)\big)\Big],
        \qquad w_i = \min\!\Big(\frac{\pi(a_i|x_i)}{\mu(a_i|x_i)}, \lambda\Big),

    where :math:`\hat q(x_i,\pi) = \sum_a \pi(a|x_i)\hat q(x_i,a)`. Unclipped, it is unbiased
    when the propensities are correct (whatever the model), and consistent when the model
    is correct; its variance is lower than IPS's when :math:`\hat q` is close to the
    true mean reward. Fit :math:`\hat q` with cross-fitting (:class:`RewardModel`) so that
    the correction term is not biased by in-sample overfitting. Unlike IPS, DR also covers
    target mass on unsupported actions through :math:`\hat q(x_i,\pi)` -- with the model's
    bias there. The standard error is the sample standard deviation of the bracketed
    per-round terms over :math:`\sqrt n` (clustered on ``group_ids`` when given).

    Parameters
    ----------
    clip : float or None, default None
        Clipping threshold on the weights (``None``: none).
    alpha, n_bootstrap, random_state
        As in :class:`receval.ope.IPS`.

    References
    ----------
    Dudík, M., Langford, J., Li, L. (2011). Doubly robust policy evaluation and learning.
    ICML 2011, 1097-1104. Robins, J. M., Rotnitzky, A., Zhao, L. P. (1994). Estimation of
    regression coefficients when some regressors are not always observed. JASA 89.
    """

    name = "dr"

    def estimate_policy_value(
        self,
        reward: Any,
        p_log: Any,
        p_target: Any,
        q_hat_logged: Any,
        q_hat_target: Any,
        *,
        group_ids: Any = None,
        unsupported_mass: Any = None,
    ) -> OPEEstimate:
        """Estimate the target policy's expected reward per round.

        Parameters
        ----------
        reward, p_log, p_target
            As in :meth:`receval.ope.IPS.estimate_policy_value`.
        q_hat_logged : array-like of float, shape (n,)
            Reward model at the logged action, :math:`\\hat q(x_i, a_i)`.
        q_hat_target : array-like of float, shape (n,)
            :math:`\\sum_a \\pi(a|x_i) \\hat q(x_i, a)` (see :func:`receval.ope.q_hat_inputs`).
        group_ids, unsupported_mass
            As in :meth:`receval.ope.IPS.estimate_policy_value`.

        Returns
        -------
        OPEEstimate
        """
        r, pl, pt, ql, qt = _inputs(reward, p_log, p_target, q_hat_logged, q_hat_target)
        w = pt / pl
        if self.clip is not None:
            np.minimum(w, self.clip, out=w)
        c = qt + w * (r - ql)
        est = float(c.mean())
        return self._result(
            estimator="clipped_dr" if self.clip is not None else self.name,
            estimate=est,
            influence=c - est,
            n_rounds=r.size,
            weights=w,
            components=lambda: np.column_stack([c, np.ones_like(c)]),
            statistic=_sum_stat,
            group_ids=group_ids,
            unsupported_mass=unsupported_mass,
            clip=self.clip,
        )


class SelfNormalizedDoublyRobust(BaseEstimator):
    r"""Self-normalised doubly robust estimator (SNDR).

    .. math::

        \hat V_{\mathrm{SNDR}} = \frac{1}{n}\sum_{i=1}^n \hat q(x_i, \pi)
            + \frac{\sum_i w_i \big(r_i - \hat q(x_i, a_i)\big)}{\sum_i w_i} .

    The correction term is normalised by the realised sum of weights, as in SNIPS: a
    small :math:`O(1/n)` bias for bounded corrections and a lower variance when weights
    are heavy-tailed. The standard error is the delta-method one, from the per-round
    influence terms :math:`(\hat q(x_i,\pi) - \bar q_\pi) + w_i (r_i - \hat q(x_i,a_i) -
    \hat B)/\bar w`, with :math:`\hat B` the normalised correction.

    Parameters
    ----------
    alpha, n_bootstrap, random_state
        As in :class:`receval.ope.IPS`.

    References
    ----------
    Dudík, M., Langford, J., Li, L. (2011), ICML; Kallus, N., Uehara, M. (2019).
    Intrinsically efficient, stable, and bounded off-policy evaluation for reinforcement
    learning. NeurIPS 32 (self-normalised DR); Swaminathan & Joachims (2015), NeurIPS
    (self-normalisation).
    """

    name = "sndr"

    def estimate_policy_value(
        self,
        reward: Any,
        p_log: Any,
        p_target: Any,
        q_hat_logged: Any,
        q_hat_target: Any,
        *,
        group_ids: Any = None,
        unsupported_mass: Any = None,
    ) -> OPEEstimate:
        """Estimate the target policy's expected reward per round.

        Parameters are those of :meth:`DoublyRobust.estimate_policy_value`.

        Returns
        -------
        OPEEstimate
        """
        r, pl, pt, ql, qt = _inputs(reward, p_log, p_target, q_hat_logged, q_hat_target)
        w = pt / pl
        sw = float(w.sum())
        resid = w * (r - ql)
        qbar = float(qt.mean())
        if sw > 0:
            bias = float(resid.sum()) / sw
            est = qbar + bias
            influence = (qt - qbar) + w * (r - ql - bias) / (sw / r.size)
        else:
            est, influence = float("nan"), np.zeros_like(r)
        return self._result(
            estimator=self.name,
            estimate=est,
            influence=influence,
            n_rounds=r.size,
            weights=w,
            components=lambda: np.column_stack([qt, resid, w, np.ones_like(w)]),
            statistic=_sndr_stat,
            group_ids=group_ids,
            unsupported_mass=unsupported_mass,
        )
