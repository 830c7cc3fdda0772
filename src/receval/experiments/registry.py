"""The experiment registry (the ``experiment_registry`` seed): variants, metrics and
guardrails per experiment, checked, and what each registry name measures.

The metric names used in the registry map to columns of ``fct_experiment_user_metrics``
through :data:`METRICS`; the guardrail names to a per-user rate or a per-request quantile
through :data:`GUARDRAILS`. The decision's parameters sit on the primary metric's row:
``alpha``, ``minimum_effect`` and the optional ``planned_days`` (the planned duration from
the first exposure, which says when the fixed-horizon test may decide; a registry without
the column, or an empty cell, means no planned end: :meth:`Registry.planned_days`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import pyarrow as pa

__all__ = ["GUARDRAILS", "METRICS", "MetricSpec", "Registry", "read_registry"]


@dataclass(frozen=True)
class MetricSpec:
    """A registry metric: per-user column(s) of fct_experiment_user_metrics."""

    kind: str                 # "mean" or "ratio"
    column: str               # mean: the value; ratio: the numerator
    pre_column: str           # the pre-period covariate (ratio: pre numerator)
    denominator: str | None = None
    pre_denominator: str | None = None
    depends_on_purchases: bool = False  # purchases may still arrive after the data's end
    corrected_column: str | None = None  # its eventual value (inverse-arrival weighted, or imputed)


METRICS: dict[str, MetricSpec] = {
    "ctr": MetricSpec("ratio", "clicks", "pre_clicks", "impressions", "pre_impressions"),
    "clicks_per_user": MetricSpec("mean", "clicks", "pre_clicks"),
    # a per-user indicator has no unbiased inverse-arrival correction: its eventual value is
    # imputed (converted_corrected, a model of the clicks still to convert)
    "conversion_rate": MetricSpec("mean", "converted", "pre_converted", depends_on_purchases=True,
                                  corrected_column="converted_corrected"),
    "purchases_per_user": MetricSpec("mean", "purchases", "pre_purchases", depends_on_purchases=True,
                                     corrected_column="purchases_corrected"),
    "revenue_per_user": MetricSpec("mean", "revenue", "pre_revenue", depends_on_purchases=True,
                                   corrected_column="revenue_corrected"),
    "impressions_per_user": MetricSpec("mean", "impressions", "pre_impressions"),
    "sessions_per_user": MetricSpec("mean", "sessions", "pre_sessions"),
}

# Guardrails: per-user mean of a request-log rate, or a quantile of per-request values.
GUARDRAILS: dict[str, tuple[str, str, float | None]] = {
    "p99_latency_ms": ("quantile", "latency_ms", 0.99),
    "p50_latency_ms": ("quantile", "latency_ms", 0.50),
    "error_rate": ("mean", "error_rate", None),
    "fallback_rate": ("mean", "fallback_rate", None),
}


class Registry(NamedTuple):
    """Registry rows per experiment id (each list sorted by name)."""

    variants: dict[str, list[dict]]
    metrics: dict[str, list[dict]]
    guardrails: dict[str, list[dict]]

    def control(self, experiment_id: str) -> str:
        """The experiment's control variant."""
        return next(v["name"] for v in self.variants.get(experiment_id, []) if v["is_control"])

    def planned_days(self, experiment_id: str) -> int | None:
        """The experiment's planned duration in days from its first exposure (the primary
        metric row's ``planned_days``); ``None`` when not set (no planned end)."""
        primary = next(m for m in self.metrics[experiment_id] if m["role"] == "primary")
        days = primary.get("planned_days")
        return None if _missing(days) else int(days)


def _missing(x) -> bool:
    """An empty registry cell: null, or NaN where the table came through pandas."""
    return x is None or (isinstance(x, float) and math.isnan(x))


def read_registry(registry: pa.Table) -> Registry:
    """The registry seed's rows per experiment, checked: exactly one control variant and
    one primary metric per experiment, only known metric and guardrail names, and
    ``planned_days`` (optional column) a positive whole number of days set on the primary
    metric's row only."""
    variants: dict[str, list[dict]] = {}
    metrics: dict[str, list[dict]] = {}
    guardrails: dict[str, list[dict]] = {}
    rows = sorted(registry.to_pylist(), key=lambda r: (r["experiment_id"], r["entry"], r["name"]))
    for r in rows:
        target = {"variant": variants, "metric": metrics, "guardrail": guardrails}[r["entry"]]
        target.setdefault(r["experiment_id"], []).append(r)
    for exp, vs in variants.items():
        controls = [v["name"] for v in vs if v["is_control"]]
        if len(controls) != 1:
            raise ValueError(f"experiment {exp!r} must have exactly one control variant, got {controls}")
    for exp, ms in metrics.items():
        primaries = [m["name"] for m in ms if m["role"] == "primary"]
        if len(primaries) != 1:
            raise ValueError(f"experiment {exp!r} must have exactly one primary metric, got {primaries}")
        unknown = [m["name"] for m in ms if m["name"] not in METRICS]
        if unknown:
            raise ValueError(f"experiment {exp!r}: unknown metrics {unknown}; known: {sorted(METRICS)}")
    for r in rows:
        days = r.get("planned_days")
        if _missing(days):
            continue
        where = f"experiment {r['experiment_id']!r}, {r['entry']} {r['name']!r}"
        if r["entry"] != "metric" or r.get("role") != "primary":
            raise ValueError(f"{where}: planned_days belongs on the primary metric's row only, got {days!r}")
        if isinstance(days, bool) or not isinstance(days, (int, float)) or not float(days).is_integer() or days < 1:
            raise ValueError(f"{where}: planned_days must be a whole number of days >= 1, got {days!r}")
    for exp, gs in guardrails.items():
        unknown = [g["name"] for g in gs if g["name"] not in GUARDRAILS]
        if unknown:
            raise ValueError(f"experiment {exp!r}: unknown guardrails {unknown}; known: {sorted(GUARDRAILS)}")
    return Registry(variants, metrics, guardrails)
