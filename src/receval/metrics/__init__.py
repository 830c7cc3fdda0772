"""Offline evaluation metrics: arrays in, :class:`MetricResult` out.

Every metric returns a point estimate with its standard error, interval and
sample size (design convention 9), and an explicit ``reason`` instead of a
silent default when it is undefined. See ``docs/offline_metrics.md``.

Modules
-------
classification : ROC AUC (exact, tie-aware; DeLong / paired DeLong), average
    precision, log-loss, Brier score.
calibration : calibration-in-the-large, ECE (equal-width / equal-mass),
    reliability bins with Wilson intervals.
ranking : NDCG@K, MRR, recall@K per request; means and paired deltas.
uncertainty : CLT (and cluster-robust) standard errors, seeded group bootstrap.
report : the full metric set in one call (shared bootstrap resamples).
results : :class:`MetricResult`.
"""

from .calibration import (
    ReliabilityTable,
    calibration_in_the_large,
    expected_calibration_error,
    reliability_bins,
    wilson_interval,
)
from .classification import average_precision, brier_score, log_loss, roc_auc, roc_auc_delta
from .ranking import (
    PerRequestMetrics,
    mrr,
    ndcg_at_k,
    per_request_metrics,
    ranking_deltas,
    ranking_metrics,
    recall_at_k,
)
from .results import MetricResult
from .uncertainty import bootstrap_over_groups, mean_with_clt, paired_mean_delta

__all__ = [
    "MetricResult",
    "roc_auc",
    "roc_auc_delta",
    "average_precision",
    "log_loss",
    "brier_score",
    "calibration_in_the_large",
    "expected_calibration_error",
    "reliability_bins",
    "ReliabilityTable",
    "wilson_interval",
    "per_request_metrics",
    "PerRequestMetrics",
    "ndcg_at_k",
    "mrr",
    "recall_at_k",
    "ranking_metrics",
    "ranking_deltas",
    "bootstrap_over_groups",
    "mean_with_clt",
    "paired_mean_delta",
]
