r"""The full offline metric set for one model (and, optionally, its paired
deltas against a baseline model) in one call, with one set of bootstrap
resamples shared by every bootstrapped metric -- which is what makes the
deltas paired.

* ROC AUC: DeLong (rows independent) or group bootstrap (``groups`` given);
  delta: paired DeLong or the same group bootstrap.
* Average precision, ECE (equal-width and equal-mass): percentile bootstrap
  over ``groups`` (rows if None).
* Log-loss, Brier score, calibration-in-the-large: CLT (cluster-robust over
  ``groups``); deltas: paired CLT of per-row differences.

Vectorisation: the ECE bin sums of every replicate are one matrix product
(replicate counts x per-group bin sums); AUC/AP per replicate are two
``bincount`` calls over the distinct scores (no re-sort).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._validation import (
    as_binary_labels,
    as_group_ids,
    as_probabilities,
    check_confidence,
    check_positive_int,
    check_same_length,
)
from .calibration import EceBootstrap, calibration_in_the_large
from .classification import BinaryScoreTable, _ap_from_sorted, _placements, brier_score, log_loss
from .classification import roc_auc, roc_auc_delta, average_precision
from .results import MetricResult, undefined
from .uncertainty import bootstrap_count_batches, bootstrap_result, map_batches, paired_mean_delta

__all__ = ["classification_metrics"]



def classification_metrics(y_true: Any, y_prob: Any, *, y_prob_baseline: Any = None,
                           groups: Any = None, n_bins: int = 10, n_boot: int = 200,
                           seed: int | None = 0, eps: float | None = None,
                           confidence: float = 0.95) -> dict[str, MetricResult]:
    """All classification and calibration metrics of one model, with intervals.

    Parameters
    ----------
    y_true : array-like of {0, 1}, shape (n,)
    y_prob : array-like of float in [0, 1], shape (n,)
        The model's predicted probabilities (also used as the ranking score
        for AUC/AP).
    y_prob_baseline : array-like, optional
        A baseline model's probabilities on the same rows: adds ``delta_*``
        entries (model - baseline) with paired intervals.
    groups : array-like, shape (n,), optional
        Resampling unit (request_id or user_id). None = rows are independent.
    n_bins : int, default 10
        Bins for ECE (equal-width ``ece_uniform`` and equal-mass ``ece_quantile``).
    n_boot : int, default 200
        Bootstrap replicates for AP, ECE (and AUC with ``groups``); 0 = none.
    seed : int, default 0
    eps : float, optional
        Log-loss clipping (default ``np.finfo(float).eps``).
    confidence : float, default 0.95

    Returns
    -------
    dict of str -> MetricResult
        ``roc_auc``, ``average_precision``, ``log_loss``, ``brier_score``,
        ``calibration_in_the_large``, ``ece_uniform``, ``ece_quantile`` and, with
        a baseline, ``delta_<name>`` for each.
    """
    confidence = check_confidence(confidence)
    n_bins = check_positive_int(n_bins, "n_bins")
    if not isinstance(n_boot, (int, np.integer)) or n_boot < 0:
        raise ValueError(f"`n_boot` must be an integer >= 0, got {n_boot!r}")
    y = as_binary_labels(y_true, "y_true")
    p = as_probabilities(y_prob, "y_prob")
    pb = None if y_prob_baseline is None else as_probabilities(y_prob_baseline, "y_prob_baseline")
    n = check_same_length(y_true=y, y_prob=p, y_prob_baseline=pb)
    if groups is not None:
        codes, n_groups = as_group_ids(groups, "groups")
        check_same_length(y_true=y, groups=codes)
    else:
        codes, n_groups = np.arange(n), n
    out: dict[str, MetricResult] = {}
    models = {"": p} if pb is None else {"": p, "baseline": pb}
    # row-mean metrics: CLT (cluster-robust with groups)
    for key, q in models.items():
        if key:
            continue
        out["log_loss"] = log_loss(y, q, eps=eps, groups=groups, confidence=confidence)
        out["brier_score"] = brier_score(y, q, groups=groups, confidence=confidence)
        out["calibration_in_the_large"] = calibration_in_the_large(y, q, groups=groups,
                                                                   confidence=confidence)
    if pb is not None:
        e = float(np.finfo(np.float64).eps) if eps is None else eps
        ll = lambda q: -np.log(np.where(y, np.clip(q, e, 1 - e), 1 - np.clip(q, e, 1 - e)))  # noqa: E731
        cl = None if groups is None else codes
        out["delta_log_loss"] = paired_mean_delta(ll(p), ll(pb), name="delta_log_loss",
                                                  clusters=cl, confidence=confidence)
        out["delta_brier_score"] = paired_mean_delta((p - y) ** 2, (pb - y) ** 2,
                                                     name="delta_brier_score", clusters=cl,
                                                     confidence=confidence)
        out["delta_calibration_in_the_large"] = paired_mean_delta(
            p - y, pb - y, name="delta_calibration_in_the_large", clusters=cl, confidence=confidence)
    n_pos = int(y.sum())
    if n == 0 or n_pos in (0, n):  # rank metrics undefined: say why, do not crash
        out["roc_auc"] = roc_auc(y, p, confidence=confidence)
        out["average_precision"] = average_precision(y, p, n_boot=0, confidence=confidence)
        if n == 0:
            for nm in ("ece_uniform", "ece_quantile"):
                out[nm] = undefined(nm, "empty input", confidence=confidence)
    # AUC with DeLong when rows are independent
    if groups is None and n_pos not in (0, n):
        out["roc_auc"] = roc_auc(y, p, confidence=confidence)
        if pb is not None:
            out["delta_roc_auc"] = roc_auc_delta(y, p, pb, confidence=confidence)
    if n == 0:
        return {k: v for k, v in out.items() if v is not None}
    yf = y.astype(np.float64)
    # shared bootstrap
    boot_rank = n_pos not in (0, n)
    tables = {key: BinaryScoreTable(y, q) for key, q in models.items()} if (boot_rank and n_boot) else {}
    eces = {(key, st): EceBootstrap(models[key], yf, codes, n_groups, n_bins, st)
            for key in models for st in ("uniform", "quantile")}
    points: dict[str, float] = {}
    for key, q in models.items():
        if boot_rank and key in tables:  # exact point values from the same cells
            points[f"{key}auc"], points[f"{key}ap"] = tables[key].auc_ap_from_counts(
                *tables[key].weighted_counts())
        elif boot_rank:
            sp, _, lo, hi = _placements(y, q)
            points[f"{key}ap"] = _ap_from_sorted(sp, lo, n_pos, n - n_pos)
            points[f"{key}auc"] = float((int(lo.sum()) + int(hi.sum())) / (2.0 * n_pos * (n - n_pos)))
        for st in ("uniform", "quantile"):
            points[f"{key}ece_{st}"] = eces[(key, st)].value
    reps: dict[str, list] = {k: [] for k in points}
    if n_boot:
        for tb in tables.values():
            tb.group_matrices(codes, n_groups)

        def one_batch(C):
            r = {f"{key}ece_{st}": eb.batch(C) for (key, st), eb in eces.items()}
            for key, tb in tables.items():
                r[f"{key}auc"], r[f"{key}ap"] = tb.batch_auc_ap(C)
            return r

        for r in map_batches(one_batch, bootstrap_count_batches(n_groups, n_boot, seed)):
            for key, v in r.items():
                reps[key].extend(v)
    kw = dict(n=n, n_groups=n_groups, confidence=confidence,
              resampled="groups" if groups is not None else "rows")

    # AUC and AP are close to normal: normal bootstrap intervals; ECE is skewed: percentile.
    def interval(key):
        return "percentile" if "ece_" in key else "normal"

    def res(name, key):
        if not n_boot:
            return MetricResult(name, points[key], n=n, confidence=confidence)
        return bootstrap_result(name, points[key], np.asarray(reps[key]), interval=interval(key),
                                bounds=(0.0, 1.0), **kw)

    def delta(name, key):
        d = points[key] - points["baseline" + key]
        if not n_boot:
            return MetricResult(name, d, n=n, confidence=confidence)
        r = np.asarray(reps[key]) - np.asarray(reps["baseline" + key])
        return bootstrap_result(name, d, r, model=points[key], baseline=points["baseline" + key],
                                interval=interval(key), bounds=(-1.0, 1.0), **kw)

    if boot_rank:
        out["average_precision"] = res("average_precision", "ap")
        if groups is not None:
            out["roc_auc"] = res("roc_auc", "auc")
        if pb is not None:
            out["delta_average_precision"] = delta("delta_average_precision", "ap")
            if groups is not None:
                out["delta_roc_auc"] = delta("delta_roc_auc", "auc")
    elif pb is not None:
        out["delta_roc_auc"] = roc_auc_delta(y, p, pb)
        ap_a, ap_b = out["average_precision"], average_precision(y, pb, n_boot=0)
        out["delta_average_precision"] = (
            MetricResult("delta_average_precision", ap_a.value - ap_b.value, n=n,
                         confidence=confidence, extra={"model": ap_a.value, "baseline": ap_b.value})
            if ap_a.is_defined else
            undefined("delta_average_precision", ap_a.reason or "undefined", n=n, confidence=confidence))
    for st in ("uniform", "quantile"):
        out[f"ece_{st}"] = res(f"ece_{st}", f"ece_{st}")
        if pb is not None:
            out[f"delta_ece_{st}"] = delta(f"delta_ece_{st}", f"ece_{st}")
    order = ["roc_auc", "average_precision", "log_loss", "brier_score",
             "calibration_in_the_large", "ece_uniform", "ece_quantile"]
    order += ["delta_" + k for k in order]
    return {k: out[k] for k in order if k in out and out[k] is not None}
