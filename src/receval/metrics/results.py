"""The small result object every metric in :mod:`receval.metrics` returns.

Convention 9 of the design: every number carries its uncertainty and its sample
size. A metric that is undefined on its input (one class only, empty input, no
relevant item in any request, ...) does not crash and does not return a silent
default: its ``value`` is ``nan`` and ``reason`` says why.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["MetricResult", "undefined"]


@dataclass(frozen=True)
class MetricResult:
    """A point estimate with its uncertainty and its sample size.

    Attributes
    ----------
    name : str
        Metric name, e.g. ``"roc_auc"``, ``"ndcg@10"``, ``"delta_roc_auc"``.
    value : float
        Point estimate; ``nan`` when the metric is undefined (see ``reason``).
    std_error : float
        Standard error of ``value`` (``nan`` when not available).
    ci_low, ci_high : float
        Two-sided ``1 - alpha`` interval (``nan`` when not available).
    n : int
        Number of units that entered the estimate (rows for row-level metrics,
        requests for ranking metrics).
    n_groups : int or None
        Number of resampling groups (requests or users) behind the interval,
        when the interval is over groups rather than rows.
    n_excluded : int
        Units dropped because the metric is undefined for them (for ranking
        metrics: requests with no relevant item).
    method : str
        How the interval was obtained: ``"delong"``, ``"paired_delong"``,
        ``"bootstrap_normal"``, ``"bootstrap_percentile"``, ``"clt"``, ``"clt_cluster"``, ``"wilson"`` or
        ``"none"``.
    alpha : float
        Significance level of the interval (0.05: a 95% interval).
    reason : str or None
        Why the metric is undefined (``value`` is ``nan``); ``None`` otherwise.
    extra : dict
        Metric-specific detail (e.g. ``n_pos``/``n_neg`` for AUC, the baseline
        and model values for a delta).
    """

    name: str
    value: float
    std_error: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    n: int = 0
    n_groups: int | None = None
    n_excluded: int = 0
    method: str = "none"
    alpha: float = 0.05
    reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def is_defined(self) -> bool:
        """``True`` when ``value`` is a finite number."""
        return self.reason is None and math.isfinite(self.value)

    def to_dict(self) -> dict[str, Any]:
        """Plain ``dict`` (JSON-friendly: floats, ints, strings, ``None``)."""
        d = asdict(self)
        for key in ("value", "std_error", "ci_low", "ci_high"):
            d[key] = float(d[key])
        return d

    def __float__(self) -> float:
        return float(self.value)


def undefined(name: str, reason: str, *, n: int = 0, n_excluded: int = 0,
              alpha: float = 0.05, **extra: Any) -> MetricResult:
    """A :class:`MetricResult` for a metric that is undefined on its input."""
    return MetricResult(name=name, value=math.nan, n=int(n), n_excluded=int(n_excluded),
                        alpha=alpha, reason=reason, extra=dict(extra))
