"""The frozen result object every off-policy estimator in :mod:`receval.ope` returns.

Convention 9 of the design: every number carries its uncertainty and its sample size.
Alongside the point estimate and its intervals the result carries the weight diagnostics
that say whether the estimate can be trusted (effective sample size, largest and mean
importance weight, target probability mass that the logs cannot see).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["OPEEstimate"]


@dataclass(frozen=True)
class OPEEstimate:
    """Estimated value of a target policy from logged data.

    Attributes
    ----------
    estimator : str
        Estimator that produced the value (``"ips"``, ``"clipped_ips"``, ``"snips"``,
        ``"replay"``, ``"dm"``, ``"dr"``, ``"sndr"``, ``"item_position_ips"``, ``"pbm_ips"``).
    estimate : float
        Estimated expected reward per round (per list for the ranking estimators, where
        it is the sum over positions). ``nan`` when undefined (e.g. no logged round
        matches the target policy; see ``effective_sample_size``).
    std_error : float
        Analytic standard error: the sample standard deviation of the per-unit
        contributions (linearised by the delta method for the self-normalised
        estimators) divided by ``sqrt(n_units)``. Clustered on ``group_ids`` when given.
    ci_low, ci_high : float
        Two-sided ``1 - alpha`` interval: ``estimate -/+ z * std_error`` corrected for
        ``skewness`` by Hall's transformation
        (:func:`receval.metrics.uncertainty.skew_corrected_interval`); the Wald interval
        when the skewness is 0. A reward carried by a few large values (revenue on a few
        purchases) or by a few large weights makes it longer on the right.
    alpha : float
        Significance level of the intervals.
    n : int
        Logged rounds (slots for the ranking estimators) that entered the estimate.
    n_groups : int or None
        Independent units behind the interval (requests/users) when the estimate was
        clustered on group ids or is per list; ``None`` when rounds are the units.
    effective_sample_size : float
        Kish's effective sample size ``(sum w)^2 / sum w^2`` of the importance weights
        (``nan`` for the direct method, which uses no weights).
    max_weight, mean_weight : float
        Largest and mean importance weight actually used (after clipping). A mean weight
        far from 1 signals a propensity problem or missing support.
    unsupported_mass : float
        Mean share of the target policy's probability mass on actions the logging policy
        never takes (``nan`` when the action distributions were not supplied). Weighting
        estimators are biased by up to this share of the reward scale.
    clip : float or None
        Clipping threshold applied to the weights (``None`` when not clipped).
    bootstrap_ci_low, bootstrap_ci_high : float
        Seeded percentile bootstrap interval over rounds (or groups); ``nan`` when no
        bootstrap was requested.
    n_bootstrap : int
        Bootstrap replicates behind the bootstrap interval (0 when none).
    skewness : float
        Estimated skewness of the estimate's sampling distribution: that of the per-unit
        (per-cluster) influence sums over ``sqrt(units)``; ``nan`` when undefined.
    """

    estimator: str
    estimate: float
    std_error: float
    ci_low: float
    ci_high: float
    alpha: float
    n: int
    n_groups: int | None
    effective_sample_size: float
    max_weight: float
    mean_weight: float
    unsupported_mass: float = math.nan
    clip: float | None = None
    bootstrap_ci_low: float = math.nan
    bootstrap_ci_high: float = math.nan
    n_bootstrap: int = 0
    skewness: float = math.nan

    def to_dict(self) -> dict[str, Any]:
        """Flat ``{field: value}`` mapping (one Arrow/mart row)."""
        return asdict(self)

    @property
    def relative_std_error(self) -> float:
        """``std_error / |estimate|`` (``nan`` when the estimate is 0 or undefined)."""
        if not math.isfinite(self.estimate) or self.estimate == 0:
            return math.nan
        return self.std_error / abs(self.estimate)
