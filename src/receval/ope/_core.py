"""Shared machinery of the off-policy estimators (private): constructor checks, the input
checks of a logged sample, importance weights, the analytic (delta-method, optionally
clustered) standard error, the bootstrap hook and the assembly of
:class:`~receval.ope.results.OPEEstimate`.

Each estimator reduces its data to :class:`Terms` -- the point estimate, the per-unit
influence terms of its standard error and the per-unit bootstrap components -- and
:meth:`BaseEstimator._result` turns those into the result, the same way for every estimator.
"""
from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

import numpy as np

from receval import _validation as v
from receval.metrics.uncertainty import skew_corrected_interval
from receval.ope.bootstrap import bootstrap_ci
from receval.ope.diagnostics import mean_unsupported
from receval.ope.results import OPEEstimate


def ratio_stat(num: int, den: int) -> Callable[[np.ndarray], np.ndarray]:
    """Statistic ``S[:, num] / S[:, den]`` on resampled component sums (NaN if den == 0)."""

    def stat(s: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            out = s[:, num] / s[:, den]
        out[s[:, den] == 0] = np.nan
        return out

    return stat


def sampling_skewness(psi: np.ndarray) -> float:
    """Skewness of a sum of independent terms ``psi``: ``sum d^3 / (sum d^2)^(3/2)`` with
    ``d = psi - mean(psi)`` (the units' skewness over ``sqrt(G)``); NaN without spread."""
    d = psi - psi.mean()
    s2 = _sum_of_squares(d)
    return float(np.power(d, 3).sum()) / s2 ** 1.5 if s2 > 0 else math.nan


def _sum_of_squares(x: np.ndarray) -> float:
    """``sum(x ** 2)`` by numpy's pairwise sum rather than a BLAS dot: a threaded BLAS gives
    sums that depend on the machine's thread count, and its threads, spinning between the
    thousands of calls of a mart, take a busy machine's cores from the estimators."""
    return float(np.square(x).sum())


class Terms(NamedTuple):
    """What an estimator computes from its data, before the shared result assembly.

    ``influence`` holds the per-unit linearised contributions ``psi_i`` with
    ``estimate - truth ~= sum_i psi_i / n_units``; ``components`` returns the per-unit
    columns whose resampled sums ``statistic`` maps to bootstrap replicates (built only
    when a bootstrap is requested).
    """

    estimate: float
    influence: np.ndarray
    components: Callable[[], np.ndarray]
    statistic: Callable[[np.ndarray], np.ndarray]


def mean_terms(c: np.ndarray) -> Terms:
    """Terms of a plain mean of per-unit contributions ``c`` (IPS, DM, DR, per-list IPS)."""
    est = float(c.mean())
    return Terms(est, c - est, lambda: np.column_stack([c, np.ones_like(c)]), ratio_stat(0, 1))


def logged_inputs(**arrays: Any) -> tuple[np.ndarray, ...]:
    """Check a logged sample: ``p_log`` propensities in (0, 1], ``p_target`` probabilities
    in [0, 1], every other array finite, all of one length. Returns them in order."""
    out = {}
    for name, x in arrays.items():
        if name == "p_log":
            out[name] = v.check_propensity(x, name)
        elif name == "p_target":
            out[name] = v.check_probability(x, name)
        else:
            out[name] = v.check_finite(x, name)
    v.check_lengths(**out)
    return tuple(out.values())


_DATA = ("reward", "p_log", "p_target", "q_hat_logged", "q_hat_target", "logged_action", "target_action",
         "group_ids")


class BaseEstimator:
    """Common hyperparameters (``alpha``, ``n_bootstrap``, ``random_state``) and the one
    entry point of every estimator, :meth:`estimate_policy_value`."""

    name = "base"
    clip: float | None = None
    #: the data arguments the estimator needs, and those it may also take
    inputs: tuple[str, ...] = ()
    optional_inputs: tuple[str, ...] = ("group_ids",)

    def __init__(self, alpha: float = 0.05, n_bootstrap: int = 0, random_state: Any = 0) -> None:
        self.alpha = v.check_alpha(alpha)
        self.n_bootstrap = v.check_int(n_bootstrap, "n_bootstrap", minimum=0)
        v.check_random_state(random_state)  # validate now, build the generator per call
        self.random_state = random_state

    def _params(self) -> str:
        return f"alpha={self.alpha}, n_bootstrap={self.n_bootstrap}, random_state={self.random_state!r}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._params()})"

    def estimate_policy_value(
        self,
        reward: Any = None,
        p_log: Any = None,
        p_target: Any = None,
        q_hat_logged: Any = None,
        q_hat_target: Any = None,
        *,
        logged_action: Any = None,
        target_action: Any = None,
        group_ids: Any = None,
        unsupported_mass: Any = None,
    ) -> OPEEstimate:
        """Estimate the target policy's value from a logged sample.

        Every estimator takes its data here, by these names: ``reward, p_log, p_target``
        for IPS and SNIPS (and the ranking estimators, with ``group_ids``), and
        ``q_hat_logged, q_hat_target`` too for DR and SNDR; ``q_hat_target`` alone for the
        direct method; ``reward, logged_action, target_action`` (and optionally ``p_log``)
        for replay. The estimator's ``inputs`` say which it needs, ``optional_inputs``
        which it may also take; leaving out one it needs, or passing one it does not read,
        is a ``ValueError``.

        Parameters
        ----------
        reward : array-like of float, shape (n,)
            Observed reward of each logged round (click, purchase, revenue); of each shown
            slot for the ranking estimators.
        p_log : array-like of float in (0, 1], shape (n,)
            Logging propensity of the logged action (for rankings: of the slot's item at
            its position, or examination-weighted; see the estimator).
        p_target : array-like of float in [0, 1], shape (n,)
            The target policy's probability of the logged action.
        q_hat_logged : array-like of float, shape (n,)
            Reward model at the logged action, :math:`\\hat q(x_i, a_i)`.
        q_hat_target : array-like of float, shape (n,)
            :math:`\\sum_a \\pi(a|x_i) \\hat q(x_i, a)` (see :func:`receval.ope.q_hat_inputs`).
        logged_action, target_action : array-like, shape (n,)
            Action logged, and chosen by a deterministic target policy (replay).
        group_ids : array-like, shape (n,), optional
            Cluster ids (request or user): the standard error and the bootstrap are then
            over clusters. For the ranking estimators, required: the list of each slot.
        unsupported_mass : float or array-like of float in [0, 1], optional
            Target mass without logged support (scalar or per round), reported as is.

        Returns
        -------
        OPEEstimate
        """
        given = dict(reward=reward, p_log=p_log, p_target=p_target, q_hat_logged=q_hat_logged,
                     q_hat_target=q_hat_target, logged_action=logged_action,
                     target_action=target_action, group_ids=group_ids)
        est = type(self).__name__
        missing = [k for k in self.inputs if given[k] is None]
        if missing:
            raise ValueError(f"{est} needs {', '.join(f'`{k}`' for k in missing)}")
        unused = [k for k in _DATA if given[k] is not None and k not in self.inputs + self.optional_inputs]
        if unused:
            raise ValueError(f"{est} does not read {', '.join(f'`{k}`' for k in unused)}; it reads "
                             f"{', '.join(f'`{k}`' for k in self.inputs + self.optional_inputs)}")
        data = {k: given[k] for k in self.inputs + self.optional_inputs}
        return self._estimate(unsupported_mass=unsupported_mass, **data)

    def _estimate(self, **data: Any) -> OPEEstimate:
        raise NotImplementedError

    @property
    def _label(self) -> str:
        """The result's ``estimator``: the name, prefixed ``clipped_`` when clipping."""
        return self.name if self.clip is None else f"clipped_{self.name}"

    def _weights(self, p_log: np.ndarray, p_target: np.ndarray) -> np.ndarray:
        """Importance weights ``p_target / p_log``, clipped at ``clip`` when set."""
        w = p_target / p_log
        if self.clip is not None:
            np.minimum(w, self.clip, out=w)
        return w

    def _result(
        self,
        terms: Terms,
        *,
        n_rounds: int,
        weights: np.ndarray | None,
        group_ids: Any = None,
        unsupported_mass: Any = None,
        estimator: str | None = None,
    ) -> OPEEstimate:
        """Assemble the result from the estimator's :class:`Terms`.

        The analytic variance is ``G / (G - 1) * sum_g (sum_{i in g} psi_i)^2 / n^2`` over
        the G clusters (rounds when there are no group ids), with ``n = n_rounds``; the
        interval corrects it for the skewness of those cluster sums (a few large rewards,
        or large weights, make it long on the right: ``skew_corrected_interval``).
        """
        estimate, influence = terms.estimate, terms.influence
        n = int(n_rounds)
        n_groups: int | None = None
        if group_ids is not None:
            codes, g = v.group_codes(group_ids, n=influence.shape[0])
            psi = np.bincount(codes, weights=influence, minlength=g)
            n_groups = g
        else:
            psi, g = influence, influence.shape[0]
        if math.isfinite(estimate) and g > 1:
            se = math.sqrt(g / (g - 1.0) * _sum_of_squares(psi)) / float(n)
            skew = sampling_skewness(psi)
        else:
            se = skew = math.nan
        lo, hi = skew_corrected_interval(estimate, se, skew, self.alpha)
        b_lo = b_hi = math.nan
        if self.n_bootstrap > 0 and math.isfinite(estimate):
            b_lo, b_hi = bootstrap_ci(
                terms.components(), terms.statistic, alpha=self.alpha, group_ids=group_ids,
                n_bootstrap=self.n_bootstrap, random_state=self.random_state,   # an int seed: draws reused
            )
        if weights is None:
            ess = mx = mw = math.nan
        else:
            s2 = _sum_of_squares(weights)
            ess = float(weights.sum()) ** 2 / s2 if s2 > 0 else 0.0
            mx, mw = float(weights.max()), float(weights.mean())
        return OPEEstimate(
            estimator=self._label if estimator is None else estimator,
            estimate=float(estimate),
            std_error=se,
            ci_low=lo,
            ci_high=hi,
            alpha=self.alpha,
            n=n,
            n_groups=n_groups,
            effective_sample_size=ess,
            max_weight=mx,
            mean_weight=mw,
            unsupported_mass=mean_unsupported(unsupported_mass, influence.shape[0]),
            clip=self.clip,
            bootstrap_ci_low=b_lo,
            bootstrap_ci_high=b_hi,
            n_bootstrap=self.n_bootstrap if math.isfinite(b_lo) else 0,
            skewness=skew,
        )


class ClippedEstimator(BaseEstimator):
    """A weighting estimator with an optional ``clip`` on the importance weights."""

    def __init__(self, clip: float | None = None, alpha: float = 0.05, n_bootstrap: int = 0,
                 random_state: Any = 0) -> None:
        super().__init__(alpha, n_bootstrap, random_state)
        self.clip = v.check_clip(clip)

    def _params(self) -> str:
        return f"clip={self.clip}, " + super()._params()
