r"""The full offline metric set for one model (and, optionally, its paired
deltas against a baseline model) in one call, with one set of bootstrap
resamples shared by every bootstrapped metric -- which is what makes the
deltas paired.

* ROC AUC: DeLong (rows independent) or group bootstrap (``group_ids`` given);
  delta: paired DeLong or the same group bootstrap.
* Average precision, ECE (equal-width and equal-mass): percentile bootstrap
  over ``group_ids`` (rows if None).
* Log-loss, Brier score, calibration-in-the-large: CLT (cluster-robust over
  ``group_ids``); deltas: paired CLT of per-row differences.

Vectorisation: the ECE bin sums of every replicate are one matrix product
(replicate counts x per-group bin sums); AUC/AP per replicate are two
``bincount`` calls over the distinct scores (no re-sort).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from receval import _validation as v
from .calibration import EceBootstrap, calibration_in_the_large
from .classification import BinaryScoreTable, _ap_from_sorted, _placements, brier_score, log_loss
from .classification import roc_auc, roc_auc_delta, average_precision
from .results import MetricResult, undefined
from .uncertainty import bootstrap_count_batches, bootstrap_result, map_batches, paired_mean_delta

__all__ = ["classification_metrics"]



def classification_metrics(y_true: Any, y_prob: Any, *, y_prob_baseline: Any = None,
                           group_ids: Any = None, n_bins: int = 10, n_bootstrap: int = 200,
                           random_state: Any = 0, eps: float | None = None,
                           alpha: float = 0.05) -> dict[str, MetricResult]:
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
    group_ids : array-like, shape (n,), optional
        Resampling unit (request_id or user_id). None = rows are independent.
    n_bins : int, default 10
        Bins for ECE (equal-width ``ece_uniform`` and equal-mass ``ece_quantile``).
    n_bootstrap : int, default 200
        Bootstrap replicates for AP, ECE (and AUC with ``group_ids``); 0 = none.
    random_state : int, numpy Generator or None, default 0
        Seed of the shared bootstrap resamples.
    eps : float, optional
        Log-loss clipping (default ``np.finfo(float).eps``).
    alpha : float, default 0.05
        Significance level: intervals have coverage ``1 - alpha``.

    Returns
    -------
    dict of str -> MetricResult
        ``roc_auc``, ``average_precision``, ``log_loss``, ``brier_score``,
        ``calibration_in_the_large``, ``ece_uniform``, ``ece_quantile`` and, with
        a baseline, ``delta_<name>`` for each.
    """
    alpha = v.check_alpha(alpha)
    n_bins = v.check_int(n_bins, "n_bins", minimum=1)
    n_bootstrap = v.check_int(n_bootstrap, "n_bootstrap", minimum=0)
    y = v.check_binary(y_true, "y_true")
    p = v.check_probability(y_prob, "y_prob", min_size=0)
    pb = None if y_prob_baseline is None else v.check_probability(y_prob_baseline, "y_prob_baseline", min_size=0)
    n = v.check_lengths(y_true=y, y_prob=p, y_prob_baseline=pb)
    if group_ids is not None:
        codes, n_groups = v.group_codes(group_ids, "group_ids", n=n, sort=True)
    else:
        codes, n_groups = np.arange(n), n
    out: dict[str, MetricResult] = {}
    models = {"": p} if pb is None else {"": p, "baseline": pb}
    # row-mean metrics: CLT (cluster-robust with group_ids)
    for key, q in models.items():
        if key:
            continue
        out["log_loss"] = log_loss(y, q, eps=eps, group_ids=group_ids, alpha=alpha)
        out["brier_score"] = brier_score(y, q, group_ids=group_ids, alpha=alpha)
        out["calibration_in_the_large"] = calibration_in_the_large(y, q, group_ids=group_ids,
                                                                   alpha=alpha)
    if pb is not None:
        e = float(np.finfo(np.float64).eps) if eps is None else eps
        ll = lambda q: -np.log(np.where(y, np.clip(q, e, 1 - e), 1 - np.clip(q, e, 1 - e)))  # noqa: E731
        cl = None if group_ids is None else codes
        out["delta_log_loss"] = paired_mean_delta(ll(p), ll(pb), name="delta_log_loss",
                                                  group_ids=cl, alpha=alpha)
        out["delta_brier_score"] = paired_mean_delta((p - y) ** 2, (pb - y) ** 2,
                                                     name="delta_brier_score", group_ids=cl,
                                                     alpha=alpha)
        out["delta_calibration_in_the_large"] = paired_mean_delta(
            p - y, pb - y, name="delta_calibration_in_the_large", group_ids=cl, alpha=alpha)
    n_pos = int(y.sum())
    if n == 0 or n_pos in (0, n):  # rank metrics undefined: say why, do not crash
        out["roc_auc"] = roc_auc(y, p, alpha=alpha)
        out["average_precision"] = average_precision(y, p, n_bootstrap=0, alpha=alpha)
        if n == 0:
            for nm in ("ece_uniform", "ece_quantile"):
                out[nm] = undefined(nm, "empty input", alpha=alpha)
    # AUC with DeLong when rows are independent
    if group_ids is None and n_pos not in (0, n):
        out["roc_auc"] = roc_auc(y, p, alpha=alpha)
        if pb is not None:
            out["delta_roc_auc"] = roc_auc_delta(y, p, pb, alpha=alpha)
    if n == 0:
        return {k: v for k, v in out.items() if v is not None}
    yf = y.astype(np.float64)
    # shared bootstrap
    boot_rank = n_pos not in (0, n)
    tables = {key: BinaryScoreTable(y, q) for key, q in models.items()} if (boot_rank and n_bootstrap) else {}
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
    if n_bootstrap:
        for tb in tables.values():
            tb.group_matrices(codes, n_groups)

        def one_batch(C):
            r = {f"{key}ece_{st}": eb.batch(C) for (key, st), eb in eces.items()}
            for key, tb in tables.items():
                r[f"{key}auc"], r[f"{key}ap"] = tb.batch_auc_ap(C)
            return r

        for r in map_batches(one_batch, bootstrap_count_batches(n_groups, n_bootstrap, random_state)):
            for key, vals in r.items():
                reps[key].extend(vals)
    kw = dict(n=n, n_groups=n_groups, alpha=alpha,
              resampled="groups" if group_ids is not None else "rows")

    # AUC and AP are close to normal: normal bootstrap intervals; ECE is skewed: percentile.
    def interval(key):
        return "percentile" if "ece_" in key else "normal"

    def res(name, key):
        if not n_bootstrap:
            return MetricResult(name, points[key], n=n, alpha=alpha)
        return bootstrap_result(name, points[key], np.asarray(reps[key]), interval=interval(key),
                                bounds=(0.0, 1.0), **kw)

    def delta(name, key):
        d = points[key] - points["baseline" + key]
        if not n_bootstrap:
            return MetricResult(name, d, n=n, alpha=alpha)
        r = np.asarray(reps[key]) - np.asarray(reps["baseline" + key])
        return bootstrap_result(name, d, r, model=points[key], baseline=points["baseline" + key],
                                interval=interval(key), bounds=(-1.0, 1.0), **kw)

    if boot_rank:
        out["average_precision"] = res("average_precision", "ap")
        if group_ids is not None:
            out["roc_auc"] = res("roc_auc", "auc")
        if pb is not None:
            out["delta_average_precision"] = delta("delta_average_precision", "ap")
            if group_ids is not None:
                out["delta_roc_auc"] = delta("delta_roc_auc", "auc")
    elif pb is not None:
        out["delta_roc_auc"] = roc_auc_delta(y, p, pb)
        ap_a, ap_b = out["average_precision"], average_precision(y, pb, n_bootstrap=0)
        out["delta_average_precision"] = (
            MetricResult("delta_average_precision", ap_a.value - ap_b.value, n=n,
                         alpha=alpha, extra={"model": ap_a.value, "baseline": ap_b.value})
            if ap_a.is_defined else
            undefined("delta_average_precision", ap_a.reason or "undefined", n=n, alpha=alpha))
    for st in ("uniform", "quantile"):
        out[f"ece_{st}"] = res(f"ece_{st}", f"ece_{st}")
        if pb is not None:
            out[f"delta_ece_{st}"] = delta(f"delta_ece_{st}", f"ece_{st}")
    order = ["roc_auc", "average_precision", "log_loss", "brier_score",
             "calibration_in_the_large", "ece_uniform", "ece_quantile"]
    order += ["delta_" + k for k in order]
    return {k: out[k] for k in order if k in out and out[k] is not None}
