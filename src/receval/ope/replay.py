r"""Replay (rejection-sampling) evaluation on a uniform-random exploration slice."""
from __future__ import annotations

from typing import Any

import numpy as np

from receval import _validation as v
from receval.ope._core import BaseEstimator, Terms, ratio_stat
from receval.ope.results import OPEEstimate

__all__ = ["Replay"]


def _actions(x: Any, name: str) -> np.ndarray:
    arr = v.as_1d(x, name)
    if arr.size == 0:
        raise ValueError(f"`{name}` is empty: at least one logged round is needed")
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        raise ValueError(f"`{name}` contains NaN/null actions")
    if arr.dtype.kind == "O" and any(a is None for a in arr):
        raise ValueError(f"`{name}` contains null actions")
    return arr


class Replay(BaseEstimator):
    r"""Li et al.'s replay estimator for a deterministic target policy.

    On rounds logged by a *uniformly random* policy, keep the rounds where the target
    policy would have chosen the logged action and average their rewards:

    .. math::

        \hat V_{\mathrm{replay}} = \frac{\sum_i 1[\pi(x_i) = a_i]\, r_i}
                                         {\sum_i 1[\pi(x_i) = a_i]} .

    With uniform logging over :math:`K` actions this is SNIPS with weights
    :math:`K \cdot 1[\pi(x_i)=a_i]`, so it is consistent and the analytic standard error is
    the delta-method one of a ratio (close to the standard deviation of the matched
    rewards over :math:`\sqrt{n_{\mathrm{matched}}}`). The effective sample size reported
    is the number of matched rounds. Undefined (``nan``) when no round matches.

    Assumptions: the logging policy is uniform over the same number of actions in every
    context (pass ``p_log`` to have that checked), rounds are i.i.d., rewards of a round
    depend only on its own action. Only the exploration slice of the traffic may be used.

    Parameters
    ----------
    alpha, n_bootstrap, random_state
        As in :class:`receval.ope.IPS`. The data (:meth:`estimate_policy_value`):
        ``reward, logged_action, target_action`` of the exploration slice, optionally
        ``p_log`` (checked to be uniform) and ``group_ids``.

    References
    ----------
    Li, L., Chu, W., Langford, J., Wang, X. (2011). Unbiased offline evaluation of
    contextual-bandit-based news article recommendation algorithms. WSDM 2011, 297-306.
    """

    name = "replay"
    inputs = ("reward", "logged_action", "target_action")
    optional_inputs = ("p_log", "group_ids")

    def _estimate(self, *, reward, logged_action, target_action, p_log, group_ids,
                  unsupported_mass) -> OPEEstimate:
        # p_log, when given, must be constant: uniform logging over a fixed number of actions
        r = v.check_finite(reward, "reward")
        la = _actions(logged_action, "logged_action")
        ta = _actions(target_action, "target_action")
        pl = None
        if p_log is not None:
            pl = v.check_propensity(p_log, "p_log")
        v.check_lengths(reward=r, logged_action=la, target_action=ta, p_log=pl)
        if pl is not None and not np.allclose(pl, pl[0], rtol=1e-9, atol=0.0):
            raise ValueError(
                "`p_log` varies across rounds (from "
                f"{pl.min()!r} to {pl.max()!r}): replay needs a uniform-random logging "
                "policy over a fixed number of actions; use SNIPS or IPS instead"
            )
        m = (la == ta).astype(np.float64)
        k = float(m.sum())
        if k > 0:
            est = float(np.dot(m, r)) / k
            influence = m * (r - est) / (k / r.size)
        else:
            est, influence = float("nan"), np.zeros_like(r)
        terms = Terms(est, influence, lambda: np.column_stack([m * r, m]), ratio_stat(0, 1))
        return self._result(terms, n_rounds=r.size, weights=m, group_ids=group_ids,
                            unsupported_mass=unsupported_mass)
