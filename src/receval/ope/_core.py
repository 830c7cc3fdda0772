"""Shared machinery of the off-policy estimators (private): constructor checks, the
analytic (delta-method, optionally clustered) standard error, the bootstrap hook and the
assembly of :class:`~receval.ope.results.OPEEstimate`."""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
from scipy import stats

from receval.ope import _validation as v
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


class BaseEstimator:
    """Common hyperparameters: ``alpha``, ``n_bootstrap``, ``random_state``."""

    name = "base"

    def __init__(self, alpha: float = 0.05, n_bootstrap: int = 0, random_state: Any = 0) -> None:
        self.alpha = v.check_alpha(alpha)
        self.n_bootstrap = v.check_int(n_bootstrap, "n_bootstrap", minimum=0)
        v.check_random_state(random_state)  # validate now, build the generator per call
        self.random_state = random_state

    def _params(self) -> str:
        return f"alpha={self.alpha}, n_bootstrap={self.n_bootstrap}, random_state={self.random_state!r}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._params()})"

    def _rng(self) -> np.random.Generator:
        # an int seed gives the same bootstrap every call; a Generator is consumed
        return v.check_random_state(self.random_state)


    def _result(
        self,
        *,
        estimator: str,
        estimate: float,
        influence: np.ndarray,
        n_rounds: int,
        weights: np.ndarray | None,
        components: Callable[[], np.ndarray],
        statistic: Callable[[np.ndarray], np.ndarray],
        group_ids: Any = None,
        n_units: int | None = None,
        unsupported_mass: Any = None,
        clip: float | None = None,
    ) -> OPEEstimate:
        """Assemble the result.

        ``influence`` holds the per-round linearised contributions ``psi_i`` with
        ``estimate - truth ~= sum_i psi_i / n_units``; the analytic variance is
        ``G / (G - 1) * sum_g (sum_{i in g} psi_i)^2 / n_units^2`` over the G clusters
        (rounds when there are no group ids). ``components`` is a callable returning the
        per-round bootstrap components (built only when a bootstrap is requested).
        """
        n = int(n_rounds)
        denom = float(n_units if n_units is not None else n)
        n_groups: int | None = None
        if group_ids is not None:
            codes, g = v.group_codes(group_ids, influence.shape[0])
            psi = np.bincount(codes, weights=influence, minlength=g)
            n_groups = g
        else:
            psi, g = influence, influence.shape[0]
        if math.isfinite(estimate) and g > 1:
            se = math.sqrt(g / (g - 1.0) * float(np.dot(psi, psi))) / denom
        else:
            se = math.nan
        z = float(stats.norm.ppf(1.0 - self.alpha / 2.0))
        b_lo = b_hi = math.nan
        if self.n_bootstrap > 0 and math.isfinite(estimate):
            b_lo, b_hi = bootstrap_ci(
                components(), statistic, alpha=self.alpha, group_ids=group_ids,
                n_bootstrap=self.n_bootstrap, random_state=self._rng(),
            )
        if weights is None:
            ess = mx = mw = math.nan
        else:
            s2 = float(np.dot(weights, weights))
            ess = float(weights.sum()) ** 2 / s2 if s2 > 0 else 0.0
            mx, mw = float(weights.max()), float(weights.mean())
        return OPEEstimate(
            estimator=estimator,
            estimate=float(estimate),
            std_error=se,
            ci_low=float(estimate - z * se),
            ci_high=float(estimate + z * se),
            alpha=self.alpha,
            n=n,
            n_groups=n_groups,
            effective_sample_size=ess,
            max_weight=mx,
            mean_weight=mw,
            unsupported_mass=mean_unsupported(unsupported_mass, influence.shape[0]),
            clip=clip,
            bootstrap_ci_low=b_lo,
            bootstrap_ci_high=b_hi,
            n_bootstrap=self.n_bootstrap if math.isfinite(b_lo) else 0,
        )


class ClippedEstimator(BaseEstimator):
    """A weighting estimator with an optional ``clip`` on the importance weights."""

    def __init__(self, clip: float | None = None, alpha: float = 0.05, n_bootstrap: int = 0,
                 random_state: Any = 0) -> None:
        super().__init__(alpha, n_bootstrap, random_state)
        self.clip = v.check_clip(clip)

    def _params(self) -> str:
        return f"clip={self.clip}, " + super()._params()
