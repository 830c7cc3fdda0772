r"""Doubly robust (DR) and self-normalised doubly robust (SNDR) estimators.

DR combines the direct method's reward model with an importance-weighted correction of
its error on the logged action, so it is unbiased when *either* the logged propensities
or the reward model are correct, and its variance is small when the model is good.
"""
from __future__ import annotations

import numpy as np

from receval.ope._core import BaseEstimator, ClippedEstimator, Terms, logged_inputs, mean_terms
from receval.ope.results import OPEEstimate

__all__ = ["DoublyRobust", "SelfNormalizedDoublyRobust"]


def _sndr_stat(s: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = s[:, 0] / s[:, 3] + s[:, 1] / s[:, 2]
    out[s[:, 2] == 0] = np.nan
    return out


class _ModelAssistedEstimator(BaseEstimator):
    """An estimator of the logged rewards, their importance weights and a reward model:
    subclasses give the :class:`~receval.ope._core.Terms` of ``(r, w, q_logged, q_target)``."""

    inputs = ("reward", "p_log", "p_target", "q_hat_logged", "q_hat_target")

    def _terms(self, r: np.ndarray, w: np.ndarray, ql: np.ndarray, qt: np.ndarray) -> Terms:
        raise NotImplementedError

    def _estimate(self, *, reward, p_log, p_target, q_hat_logged, q_hat_target, group_ids,
                  unsupported_mass) -> OPEEstimate:
        r, pl, pt, ql, qt = logged_inputs(reward=reward, p_log=p_log, p_target=p_target,
                                          q_hat_logged=q_hat_logged, q_hat_target=q_hat_target)
        w = self._weights(pl, pt)
        return self._result(self._terms(r, w, ql, qt), n_rounds=r.size, weights=w,
                            group_ids=group_ids, unsupported_mass=unsupported_mass)


class DoublyRobust(ClippedEstimator, _ModelAssistedEstimator):
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
        As in :class:`receval.ope.IPS`. The data (:meth:`estimate_policy_value`):
        ``reward, p_log, p_target, q_hat_logged, q_hat_target``, optionally ``group_ids``.

    References
    ----------
    Dudík, M., Langford, J., Li, L. (2011). Doubly robust policy evaluation and learning.
    ICML 2011, 1097-1104. Robins, J. M., Rotnitzky, A., Zhao, L. P. (1994). Estimation of
    regression coefficients when some regressors are not always observed. JASA 89.
    """

    name = "dr"

    def _terms(self, r: np.ndarray, w: np.ndarray, ql: np.ndarray, qt: np.ndarray) -> Terms:
        return mean_terms(qt + w * (r - ql))


class SelfNormalizedDoublyRobust(_ModelAssistedEstimator):
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
        As in :class:`receval.ope.IPS`; the data as in :class:`DoublyRobust`.

    References
    ----------
    Dudík, M., Langford, J., Li, L. (2011), ICML; Kallus, N., Uehara, M. (2019).
    Intrinsically efficient, stable, and bounded off-policy evaluation for reinforcement
    learning. NeurIPS 32 (self-normalised DR); Swaminathan & Joachims (2015), NeurIPS
    (self-normalisation).
    """

    name = "sndr"

    def _terms(self, r: np.ndarray, w: np.ndarray, ql: np.ndarray, qt: np.ndarray) -> Terms:
        sw = float(w.sum())
        resid = w * (r - ql)
        qbar = float(qt.mean())
        if sw > 0:
            bias = float(resid.sum()) / sw
            est = qbar + bias
            influence = (qt - qbar) + w * (r - ql - bias) / (sw / r.size)
        else:
            est, influence = float("nan"), np.zeros_like(r)
        return Terms(est, influence, lambda: np.column_stack([qt, resid, w, np.ones_like(w)]), _sndr_stat)
