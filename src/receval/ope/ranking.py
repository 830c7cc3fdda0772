r"""Position-aware off-policy estimators for ranked lists.

Data are one row per logged *slot* -- a (request, item, position) that was shown -- with
the slot's reward (click), the request id (``group_ids``) and propensities that depend on
the click model the estimator assumes. The value of a policy is the expected total reward
of a list, :math:`V(\pi) = E_x E_{s \sim \pi(\cdot|x)} \big[\sum_{k=1}^K r(x, s_k, k)\big]`;
rewards of a list are summed over its positions, lists are the independent units, and the
interval is over lists.

Which estimator to use depends on what the clicks are assumed to depend on:

==========================  =============================================  ==============
estimator                   click model (assumption)                       propensity
==========================  =============================================  ==============
:class:`ItemPositionIPS`    item-position / independent: a slot's click     P(item at this
                            depends only on the context, the item and its   position)
                            position, not on the other items of the list
:class:`PositionBasedIPS`   position-based model (PBM): click = examined    sum_k theta_k
                            (prob. theta_k, position only) x attracted      P(item at k)
                            (item and context only)
==========================  =============================================  ==============

PBM is a special case of the item-position model, so :class:`ItemPositionIPS` is valid
whenever :class:`PositionBasedIPS` is, with a higher variance; neither is valid under a
cascade model, where a click depends on the items above (see Li et al. 2018, and the
reward-interaction IPS of McInerney et al. 2020 for that case).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from receval import _validation as v
from receval.ope._core import ClippedEstimator, mean_terms
from receval.ope.diagnostics import mean_unsupported
from receval.ope.results import OPEEstimate

__all__ = ["ItemPositionIPS", "PositionBasedIPS", "pbm_propensity"]


class _ListEstimator(ClippedEstimator):
    """An IPS estimator of ranked lists: per-slot weights from the two policies'
    propensities (subclasses give :meth:`_propensities`), summed per list, averaged over
    lists -- the independent units of the standard error and the bootstrap. The data:
    ``reward, p_log, p_target`` per shown slot and ``group_ids``, the list of each slot."""

    inputs = ("reward", "p_log", "p_target", "group_ids")
    optional_inputs = ()

    def _propensities(self, p_log: Any, p_target: Any) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _estimate(self, *, reward, p_log, p_target, group_ids, unsupported_mass) -> OPEEstimate:
        # every slot of every logged list must be present, clicked or not: a list enters
        # the mean even if all its weights are 0; n is the slots, n_groups the lists
        r = v.check_finite(reward, "reward")
        pl, pt = self._propensities(p_log, p_target)
        v.check_lengths(reward=r, p_log=pl, p_target=pt)
        w = self._weights(pl, pt)
        codes, g = v.group_codes(group_ids, n=r.size)
        per_list = np.bincount(codes, weights=w * r, minlength=g)
        res = self._result(mean_terms(per_list), n_rounds=g, weights=w)
        return replace(res, n=int(r.size), n_groups=g, unsupported_mass=mean_unsupported(unsupported_mass, g))


class ItemPositionIPS(_ListEstimator):
    r"""Item-position (independent-slot) IPS for ranked lists.

    Each (item, position) pair is treated as its own action with its own marginal
    propensity:

    .. math::

        \hat V_{\mathrm{IP}} = \frac{1}{n}\sum_{i=1}^n \sum_{k=1}^{K}
            \frac{\pi(s_{ik}\text{ at } k \mid x_i)}{\mu(s_{ik}\text{ at } k \mid x_i)}\, r_{ik},

    for :math:`n` logged lists, :math:`s_{ik}` the item logged at position :math:`k` and
    :math:`\pi(\cdot \text{ at } k|x)`, :math:`\mu(\cdot \text{ at } k|x)` the marginal
    probabilities that the target and logging policies put that item at that position.

    Assumes the *item-position* (independent) click model: the expected reward of a slot
    depends only on the context, the item and the position -- not on which other items
    are in the list. Then the estimator is unbiased for the expected sum of rewards over
    positions whenever :math:`\mu(i \text{ at } k|x) > 0` wherever
    :math:`\pi(i \text{ at } k|x) > 0`. It is the independent IPS (IIPS) of slate OPE and the
    item-position estimator of Li et al. (2018); for additive list rewards it is the
    per-slot form of the pseudo-inverse estimator of Swaminathan et al. (2017).

    Parameters
    ----------
    clip : float or None, default None
        Clipping threshold on the per-slot weights.
    alpha, n_bootstrap, random_state
        As in :class:`receval.ope.IPS` (the bootstrap resamples lists).

    References
    ----------
    Li, S., Abbasi-Yadkori, Y., Kveton, B., Muthukrishnan, S., Vinay, V., Wen, Z. (2018).
    Offline evaluation of ranking policies with click models. KDD 2018, 1685-1694.
    Swaminathan, A., Krishnamurthy, A., Agarwal, A., Dudík, M., Langford, J., Jose, D.,
    Zitouni, I. (2017). Off-policy evaluation for slate recommendation. NeurIPS 30.
    """

    name = "item_position_ips"

    def _propensities(self, p_log: Any, p_target: Any) -> tuple[np.ndarray, np.ndarray]:
        """Marginal probabilities that each policy puts the slot's item at its position."""
        return v.check_propensity(p_log, "p_log"), v.check_probability(p_target, "p_target")


def pbm_propensity(position_probs: Any, examination: Any, name: str = "position_probs") -> np.ndarray:
    r"""Examination-weighted item propensity :math:`\sum_k \theta_k P(\text{item at } k \mid x)`.

    Parameters
    ----------
    position_probs : array-like, shape (n_slots, K)
        For each logged slot's item, its probability of being placed at each of the K
        positions by the policy (a row sums to at most 1).
    examination : array-like, shape (K,)
        Examination probabilities :math:`\theta_k \in (0, 1]` of the positions (only their
        ratios matter to :class:`PositionBasedIPS`).

    Returns
    -------
    numpy.ndarray, shape (n_slots,)
    """
    p = np.asarray(position_probs, dtype=np.float64)
    th = v.check_propensity(examination, "examination")
    if p.ndim != 2 or p.shape[1] != th.size:
        raise ValueError(f"`{name}` must have shape (n_slots, {th.size}), got {p.shape}")
    if not np.isfinite(p).all() or (p < 0).any() or (p.sum(axis=1) > 1 + 1e-9).any():
        raise ValueError(f"`{name}` must hold probabilities whose rows sum to at most 1")
    return p @ th


class PositionBasedIPS(_ListEstimator):
    r"""IPS under the position-based click model (PBM) of Li et al. (2018).

    Under PBM a shown item is clicked with probability :math:`\theta_k \alpha(x, i)`:
    examination :math:`\theta_k` depends only on the position, attraction only on the
    item. Then a click on item :math:`i` anywhere in the list is informative about
    :math:`\alpha(x, i)`, and

    .. math::

        \hat V_{\mathrm{PBM}} = \frac{1}{n}\sum_{i=1}^n \sum_{k=1}^{K}
            \frac{\sum_{j} \theta_j\, \pi(s_{ik} \text{ at } j \mid x_i)}
                 {\sum_{j} \theta_j\, \mu(s_{ik} \text{ at } j \mid x_i)}\, r_{ik}

    is unbiased for the expected clicks per list, provided that every item the target
    policy shows has a positive probability of being shown somewhere by the logging
    policy. It needs only item-level support (not item-position support) and so has a
    much lower variance than :class:`ItemPositionIPS`, but it is biased when clicks are not
    PBM (e.g. cascade behaviour) or :math:`\theta` is wrong. :math:`\theta` can be known up
    to a constant factor (estimate it from randomised position swaps or an EM click
    model).

    Parameters
    ----------
    examination : array-like of float in (0, 1], shape (K,), optional
        :math:`\theta`. Needed when the estimate is given per-position probabilities
        (2-D ``p_log`` / ``p_target``); leave out when passing examination-weighted
        propensities (1-D, see :func:`pbm_propensity`).
    clip : float or None, default None
        Clipping threshold on the weights.
    alpha, n_bootstrap, random_state
        As in :class:`receval.ope.IPS` (the bootstrap resamples lists).

    References
    ----------
    Li, S., Abbasi-Yadkori, Y., Kveton, B., Muthukrishnan, S., Vinay, V., Wen, Z. (2018).
    Offline evaluation of ranking policies with click models. KDD 2018.
    Craswell, N., Zoeter, O., Taylor, M., Ramsey, B. (2008). An experimental comparison of
    click position-bias models. WSDM 2008 (the examination hypothesis).
    """

    name = "pbm_ips"

    def __init__(
        self,
        examination: Any = None,
        clip: float | None = None,
        alpha: float = 0.05,
        n_bootstrap: int = 0,
        random_state: Any = 0,
    ) -> None:
        super().__init__(clip, alpha, n_bootstrap, random_state)
        self.examination = None if examination is None else v.check_propensity(examination, "examination")

    def _params(self) -> str:
        ex = None if self.examination is None else self.examination.tolist()
        return f"examination={ex}, " + super()._params()

    def _prop(self, x: Any, name: str, target: bool) -> np.ndarray:
        if np.ndim(x) == 2:
            if self.examination is None:
                raise ValueError(
                    f"`{name}` is 2-D (per-position probabilities) but the estimator has no "
                    "`examination` probabilities; pass examination=... at construction"
                )
            p = pbm_propensity(x, self.examination, name)
            return v.check_probability(p, name) if target else v.check_propensity(p, name)
        if self.examination is not None:
            raise ValueError(
                f"`{name}` is 1-D but the estimator was built with `examination`: pass "
                "per-position probabilities (n_slots, K), or build it without examination"
            )
        return v.check_probability(x, name) if target else v.check_propensity(x, name)

    def _propensities(self, p_log: Any, p_target: Any) -> tuple[np.ndarray, np.ndarray]:
        """Examination-weighted item propensities :math:`\\sum_j \\theta_j P(\\text{item at } j|x)`:
        given (1-D), or from per-position probabilities ``(n_slots, K)`` and ``examination``."""
        return self._prop(p_log, "p_log", target=False), self._prop(p_target, "p_target", target=True)
