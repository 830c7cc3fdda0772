"""Production monitoring: feature and prediction drift, and performance estimated
before the labels arrive.

======================================  ==============================================
:func:`feature_drift`                   PSI, Jensen-Shannon distance and a KS (numeric)
                                        or chi-square (categorical) test of one feature
:func:`drift_table`                     the same for every feature x (day, segment)
                                        group of a frame, as one Arrow table
:func:`reference_bins`, :func:`bin_counts`,
:func:`categorical_counts`              the bins (reference quantiles, missing values
                                        as a bin; categories)
:func:`psi`, :func:`jensen_shannon_distance`,
:func:`ks_test`, :func:`ks_from_counts`,
:func:`chi_square_test`                 the statistics on their own
:class:`CBPE`                           confidence-based performance estimation:
                                        expected ROC AUC, log-loss, positive rate and
                                        confusion matrix of a calibrated model, with
                                        a simulated interval of the realised AUC
======================================  ==============================================

The marts' table functions live in their own modules, imported by path and not here (as
in receval.delayed): ``rolling`` (``rolling_drift_table``, a reference window of its own
for every day; its counting engines in ``rolling_cells``), ``features``
(``feature_drift_mart``), ``prediction``, ``online``, ``estimates``; ``days`` holds the
day and reference-window bookkeeping they share. dbt runs Python models in threads, and
a package ``__init__`` that imports what they import can deadlock two of them importing
at once.

See docs/monitoring.md for the formulas, the epsilon rule, the assumptions and the
references.
"""
from receval.monitoring.binning import bin_counts, categorical_counts, reference_bins
from receval.monitoring.drift import KINDS, STATUSES, FeatureDrift, feature_drift
from receval.monitoring.marts import drift_schema, drift_table
from receval.monitoring.performance import (
    CBPE,
    PerformanceEstimate,
    expected_confusion_matrix,
    expected_log_loss,
    expected_roc_auc,
    grouped_cbpe,
)
from receval.monitoring.two_sample import (
    TwoSampleTest,
    chi_square_test,
    jensen_shannon_distance,
    ks_from_counts,
    ks_test,
    psi,
)

__all__ = [
    "CBPE", "KINDS", "STATUSES", "FeatureDrift", "PerformanceEstimate", "TwoSampleTest",
    "bin_counts", "categorical_counts", "chi_square_test", "drift_schema", "drift_table",
    "expected_confusion_matrix", "expected_log_loss", "expected_roc_auc", "feature_drift",
    "grouped_cbpe", "jensen_shannon_distance", "ks_from_counts", "ks_test", "psi", "reference_bins",
]
