r"""Confidence-based performance estimation (CBPE): a classifier's performance on
data whose labels have not arrived yet, from its own predicted probabilities.

Assumption: the model is *calibrated* on the monitored data, i.e. the label of row
``i`` is Bernoulli(:math:`p_i`) given its prediction, independently across rows. That
holds under covariate shift (the input distribution moves, :math:`P(y \mid x)` does
not) for a model calibrated on the reference, and fails under concept drift (then
the estimate is wrong and nothing in the scores can tell). Check the calibration on
the reference period (``metrics.calibration``) before trusting the estimate.

Expected ROC AUC
----------------
With :math:`y_i \sim \mathrm{Bernoulli}(p_i)` independent and scores :math:`s_i`
(by default :math:`s_i = p_i`), the AUC is :math:`U / (n_+ n_-)`, ``U`` the number of
correctly ordered positive-negative pairs (ties 1/2). Their expectations are

.. math::

    E[U] = \sum_{i \ne j} p_j (1 - p_i) \big([s_i < s_j] + \tfrac12 [s_i = s_j]\big),
    \qquad
    E[n_+ n_-] = \sum_{i \ne j} p_j (1 - p_i) = P\,Q - \sum_i p_i (1 - p_i),

with :math:`P = \sum p_i`, :math:`Q = \sum (1 - p_i)`. The estimate is the *ratio of
the expectations* :math:`E[U] / E[n_+ n_-]` (a ratio estimator: it differs from
:math:`E[U / (n_+ n_-)]` by :math:`O(1/n)`). One sort of the scores gives it in
:math:`O(n \log n)`: over the runs ``k`` of tied scores in ascending order, with
:math:`P_k, Q_k, S_k` the run's sums of :math:`p, 1-p, p(1-p)`,
:math:`E[U] = \sum_k P_k \sum_{l<k} Q_l + \tfrac12 \sum_k (P_k Q_k - S_k)`.

NannyML's CBPE estimates the ROC curve instead, with expected true and false positive
rates at each threshold, :math:`\mathrm{TPR}(t) = \sum_{s_i \ge t} p_i / P` and
:math:`\mathrm{FPR}(t) = \sum_{s_i \ge t} (1 - p_i) / Q`, and integrates it. That area
equals :math:`(E[U] + \tfrac12 \sum_i p_i(1-p_i)) / (P Q)`: the same pairs, plus each
row paired with itself as a tie. The two estimates differ by :math:`O(1/n)` (ours has
no self-pairs, so all-equal scores give exactly 1/2 either way, and a perfectly
separable 0/1 set gives exactly 1).

Interval
--------
A parametric bootstrap of the labels: draw ``n_bootstrap`` label vectors
:math:`y^{(b)}_i \sim \mathrm{Bernoulli}(p_i)` and compute each one's AUC, log-loss
and positive rate; the percentile interval is a *prediction* interval of the metric
that the labels, once they arrive, will give on these rows (given the scores and the
calibration assumption), which is what the monitoring mart compares with the realised
AUC once labels mature. Draws with a single class (AUC undefined) are dropped and
counted. Vectorised: one sort, then per block of draws a ``reduceat`` over the runs.

Analytic interval (:func:`grouped_cbpe`, ``CBPE(interval="normal")``): the same
prediction interval without simulation, for marts with thousands of groups. With
:math:`A = E[U]/E[D]` (:math:`D = n_+ n_-`), the realised AUC is
:math:`U/D = A + (U - A D)/D \approx A + (U - A D)/E[D]` (delta method). ``U`` and ``D``
are multilinear in the independent labels (no :math:`y_i^2` term, as :math:`i \ne j`),
so the variance of :math:`F = U - A D` is exact:

.. math::

    \mathrm{Var}(F) = \sum_i v_i\, g_i^2 + (2A - 1)^2 \sum_{i<j} v_i v_j,
    \qquad v_i = p_i (1 - p_i),

with :math:`g_i = \partial F / \partial y_i` at :math:`y = p`:
:math:`\partial U/\partial y_i = Q_{<i} + \tfrac12 (Q_{=i} - q_i) - P_{>i} - \tfrac12 (P_{=i} - p_i)`
(sums over rows scored below / tied with / above row ``i``) and
:math:`\partial D/\partial y_i = (Q - q_i) - (P - p_i)`; the pair coefficient of
:math:`y_i y_j` is :math:`-1` in ``U`` (:math:`h(s_i, s_j) + h(s_j, s_i) = 1`) and
:math:`-2` in ``D``. The standard error is :math:`\sqrt{\mathrm{Var}(F)} / E[D]`; the
realised log-loss :math:`-\frac1n \sum [y \ln p + (1-y) \ln(1-p)]` has variance
:math:`\sum v_i\, \mathrm{logit}(p_i)^2 / n^2` and the positive rate :math:`\sum v_i / n^2`
(both exact). Intervals are Wald's, ``estimate -/+ z * std_error`` (the AUC's clipped to
[0, 1]): the normal approximation needs a few dozen expected positives and negatives.

References
----------
NannyML documentation, "Confidence-based Performance Estimation (CBPE)",
https://nannyml.readthedocs.io (how it works: performance estimation).

Hanley, J. A. and McNeil, B. J. (1982). The meaning and use of the area under a
receiver operating characteristic (ROC) curve. *Radiology* 143(1), 29-36.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from receval import _validation as v
from receval.metrics.uncertainty import normal_interval, percentile_interval

__all__ = [
    "CBPE", "GroupedEstimate", "PerformanceEstimate", "expected_roc_auc", "expected_log_loss",
    "expected_confusion_matrix", "grouped_cbpe",
]

INTERVALS = ("bootstrap", "normal")

_BLOCK_CELLS = 4_000_000  # draws x rows per block of simulated labels


@dataclass(frozen=True)
class PerformanceEstimate:
    """Expected performance of a calibrated classifier on unlabelled rows.

    Attributes
    ----------
    estimate : float
        Expected ROC AUC (ratio of expectations, see the module docstring); ``nan``
        when no positive-negative pair is possible (see ``reason``).
    std_error : float
        Standard deviation of the simulated AUCs (or its analytic value): the spread of
        the AUC the labels will realise, given the scores.
    ci_low, ci_high : float
        Percentile ``1 - alpha`` prediction interval of the realised AUC.
    log_loss, log_loss_ci_low, log_loss_ci_high : float
        Expected log-loss :math:`-\\frac1n \\sum [p \\ln p + (1-p) \\ln(1-p)]` (the mean
        binary entropy of the clipped probabilities) and its simulated interval.
    positive_rate, positive_rate_ci_low, positive_rate_ci_high : float
        Expected positive rate (mean :math:`p`, the calibration-in-the-large target)
        and the simulated interval of the realised rate.
    threshold : float
        Score threshold of the expected confusion matrix (predicted positive:
        ``score >= threshold``).
    expected_tp, expected_fp, expected_tn, expected_fn : float
        Expected confusion-matrix counts at ``threshold``: e.g. TP = sum of ``p`` over
        predicted positives, FP = sum of ``1 - p`` over them.
    n : int
        Rows.
    n_bootstrap : int
        Simulated label vectors (0: no interval).
    n_undefined : int
        Simulated label vectors with a single class (no AUC), dropped.
    alpha : float
        Significance level of the intervals.
    method : str
        ``"bernoulli_simulation"``, ``"normal"`` (analytic standard errors) or ``"none"``.
    reason : str or None
        Why ``estimate`` is ``nan``.
    """

    estimate: float
    std_error: float
    ci_low: float
    ci_high: float
    log_loss: float
    log_loss_ci_low: float
    log_loss_ci_high: float
    positive_rate: float
    positive_rate_ci_low: float
    positive_rate_ci_high: float
    threshold: float
    expected_tp: float
    expected_fp: float
    expected_tn: float
    expected_fn: float
    n: int
    n_bootstrap: int
    n_undefined: int
    alpha: float
    method: str
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ------------------------------------------------------------------------ inputs
def _inputs(y_prob: Any, y_score: Any, min_size: int = 1) -> tuple[np.ndarray, np.ndarray]:
    p = v.check_probability(y_prob, "y_prob", min_size=min_size,
                            meaning="the calibrated probability of a positive label")
    if y_score is None:
        return p, p
    s = v.check_finite(y_score, "y_score", min_size=min_size)
    v.check_lengths(y_prob=p, y_score=s)
    return p, s


def _check_eps(eps: Any) -> float:
    if eps is None:
        return float(np.finfo(np.float64).eps)
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0.0 < eps < 0.5:
        raise ValueError(f"`eps` must be a float in (0, 0.5), got {eps!r}")
    return float(eps)


def _runs(p: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities in ascending score order and the start of each run of tied scores."""
    order = np.argsort(s, kind="stable")
    ss = s[order]
    starts = np.flatnonzero(np.concatenate([[True], ss[1:] != ss[:-1]]))
    return p[order], starts


def _expected_auc_sorted(ps: np.ndarray, starts: np.ndarray) -> float:
    qs = 1.0 - ps
    pk = np.add.reduceat(ps, starts)
    qk = np.add.reduceat(qs, starts)
    sk = np.add.reduceat(ps * qs, starts)
    q_below = np.cumsum(qk) - qk
    den = ps.sum() * qs.sum() - sk.sum()
    if not den > 0:
        return math.nan
    num = float(np.dot(pk, q_below)) + 0.5 * float((pk * qk - sk).sum())
    return float(min(max(num / den, 0.0), 1.0))


# ------------------------------------------------------------------------ functions
def expected_roc_auc(y_prob: Any, y_score: Any = None) -> float:
    r"""Expected ROC AUC of labels drawn Bernoulli(``y_prob``), ranked by ``y_score``.

    :math:`E[U] / E[n_+ n_-]` (see the module docstring), exact for the expectations,
    ties counted 1/2, :math:`O(n \log n)`.

    Parameters
    ----------
    y_prob : array-like of float in [0, 1]
        Calibrated probabilities of a positive label.
    y_score : array-like of float, optional
        Ranking scores (default: ``y_prob``).

    Returns
    -------
    float
        In [0, 1]; ``nan`` with fewer than 2 rows or when no row pair can be one
        positive and one negative (every :math:`p_i` is 0, or every one is 1, ...).
    """
    p, s = _inputs(y_prob, y_score)
    if p.size < 2:
        return math.nan
    return _expected_auc_sorted(*_runs(p, s))


def expected_log_loss(y_prob: Any, eps: float | None = None) -> float:
    r"""Expected log-loss of labels drawn Bernoulli(``y_prob``):
    :math:`-\frac1n \sum_i [p_i \ln \tilde p_i + (1 - p_i) \ln(1 - \tilde p_i)]`, with
    :math:`\tilde p` clipped to :math:`[\varepsilon, 1 - \varepsilon]` as
    :func:`receval.metrics.classification.log_loss` clips (default machine epsilon)."""
    p = v.check_probability(y_prob, "y_prob",
                            meaning="the calibrated probability of a positive label")
    pc = np.clip(p, _check_eps(eps), 1.0 - _check_eps(eps))
    return float(-np.mean(p * np.log(pc) + (1.0 - p) * np.log1p(-pc)))


def expected_confusion_matrix(y_prob: Any, y_score: Any = None,
                              threshold: float = 0.5) -> dict[str, float]:
    r"""Expected confusion-matrix counts when predicting positive at
    ``y_score >= threshold``: TP :math:`= \sum_{s_i \ge t} p_i`, FP :math:`=
    \sum_{s_i \ge t} (1 - p_i)`, FN :math:`= \sum_{s_i < t} p_i`, TN :math:`=
    \sum_{s_i < t} (1 - p_i)` (NannyML's CBPE confusion matrix)."""
    p, s = _inputs(y_prob, y_score)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold):
        raise ValueError(f"`threshold` must be a finite number, got {threshold!r}")
    pos = s >= threshold
    return {"tp": float(p[pos].sum()), "fp": float((1.0 - p[pos]).sum()),
            "tn": float((1.0 - p[~pos]).sum()), "fn": float(p[~pos].sum())}


@dataclass(frozen=True)
class GroupedEstimate:
    """Per-group expectations of :func:`grouped_cbpe`: arrays of length ``n_groups``.

    ``auc`` / ``auc_std_error`` are NaN where no positive-negative pair is possible (fewer
    than 2 rows, or every ``p`` 0 or every one 1); every field is NaN (``n`` 0) for a group
    without rows.
    """

    n: np.ndarray
    auc: np.ndarray
    auc_std_error: np.ndarray
    log_loss: np.ndarray
    log_loss_std_error: np.ndarray
    positive_rate: np.ndarray
    positive_rate_std_error: np.ndarray


def grouped_cbpe(y_prob: Any, y_score: Any, group_codes: Any, n_groups: int, *,
                 eps: float | None = None, score_order: np.ndarray | None = None) -> GroupedEstimate:
    r"""Expected AUC, log-loss and positive rate of every group, with the analytic
    standard errors of the realised figures (module docstring, "Analytic interval").

    ``auc`` equals :func:`expected_roc_auc` of the group's rows and ``log_loss``
    :func:`expected_log_loss`. Vectorised over groups: rows are sorted once by (group,
    score), a stable sort of the group codes over ``score_order``, and every per-group
    quantity is a cumulative sum or a ``bincount``.

    Parameters
    ----------
    y_prob : array-like of float in [0, 1], shape (n,)
        Calibrated probabilities of a positive label.
    y_score : array-like of float, shape (n,), optional
        Ranking scores (None: ``y_prob``).
    group_codes : array-like of int, shape (n,)
        The group of each row, in ``[0, n_groups)``.
    n_groups : int
    eps : float, optional
        Clipping of the probabilities in the log-loss (default machine epsilon).
    score_order : ndarray of int, optional
        ``np.argsort(y_score)``, when several groupings of the same rows are evaluated.

    Returns
    -------
    GroupedEstimate
    """
    p, s = _inputs(y_prob, y_score, min_size=0)
    n = p.size
    n_groups = v.check_int(n_groups, "n_groups", minimum=0)
    g = np.asarray(group_codes)
    if g.shape != (n,) or not np.issubdtype(g.dtype, np.integer) or \
            (n and (g.min() < 0 or g.max() >= n_groups)):
        raise ValueError(f"`group_codes` must be {n} integers in [0, {n_groups}), one per row")
    eps = _check_eps(eps)
    if score_order is None:
        score_order = np.argsort(s)
    elif len(score_order) != n:
        raise ValueError(f"`score_order` has {len(score_order)} entries, expected {n} (np.argsort(y_score))")
    small = np.uint16 if n_groups <= 1 << 16 else np.int64  # a radix sort keeps the score order
    order = score_order[np.argsort(g[score_order].astype(small), kind="stable")]
    gs, ss, ps = g[order], s[order], p[order]
    if n > 1 and np.any((gs[1:] == gs[:-1]) & (ss[1:] < ss[:-1])):
        raise ValueError("`score_order` does not sort `y_score` (pass np.argsort(y_score))")
    qs, vs = 1.0 - ps, ps * (1.0 - ps)

    def per_group(w):
        return np.bincount(gs, weights=w, minlength=n_groups)

    # runs of tied scores inside a group, and each run's sums below / above it in its group
    new = np.ones(n, dtype=bool)
    new[1:] = (gs[1:] != gs[:-1]) | (ss[1:] != ss[:-1])
    starts = np.flatnonzero(new)
    run = np.cumsum(new) - 1
    rg = gs[starts]
    pk, qk, sk = (np.add.reduceat(x, starts) if n else np.zeros(0) for x in (ps, qs, vs))
    count, big_p, big_q = per_group(np.ones(n)), per_group(ps), per_group(qs)
    first = np.searchsorted(rg, rg)                       # the first run of each run's group
    q_below = np.cumsum(qk) - qk
    q_below -= q_below[first]
    p_upto = np.cumsum(pk)
    p_upto -= p_upto[first] - pk[first]
    p_above = big_p[rg] - p_upto
    big_v, big_v2 = per_group(vs), per_group(vs * vs)
    e_pairs = big_p * big_q - big_v
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = np.clip(np.bincount(rg, weights=pk * q_below + 0.5 * (pk * qk - sk), minlength=n_groups)
                      / e_pairs, 0.0, 1.0)
        auc[~(e_pairs > 0)] = np.nan
        d_u = q_below[run] + 0.5 * (qk[run] - qs) - p_above[run] - 0.5 * (pk[run] - ps)
        d_pairs = (big_q[gs] - qs) - (big_p[gs] - ps)
        grad = d_u - auc[gs] * d_pairs
        var_f = per_group(vs * grad * grad) + (2.0 * auc - 1.0) ** 2 * 0.5 * (big_v * big_v - big_v2)
        pc = np.clip(ps, eps, 1.0 - eps)
        log_p, log_q = np.log(pc), np.log1p(-pc)
        return GroupedEstimate(
            n=count.astype(np.int64),
            auc=auc,
            auc_std_error=np.sqrt(np.maximum(var_f, 0.0)) / e_pairs,
            log_loss=-per_group(ps * log_p + qs * log_q) / count,
            log_loss_std_error=np.sqrt(per_group(vs * (log_p - log_q) ** 2)) / count,
            positive_rate=big_p / count,
            positive_rate_std_error=np.sqrt(big_v) / count,
        )


def _simulate(ps: np.ndarray, starts: np.ndarray, n_bootstrap: int, rng: np.random.Generator,
              eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AUC, log-loss and positive rate of ``n_bootstrap`` label vectors drawn
    Bernoulli(ps) (``ps`` in ascending score order)."""
    n = ps.size
    pc = np.clip(ps, eps, 1.0 - eps)
    logit = np.log(pc) - np.log1p(-pc)
    base = -np.log1p(-pc).sum()
    run_size = np.diff(np.append(starts, n))
    auc = np.empty(n_bootstrap)
    ll = np.empty(n_bootstrap)
    rate = np.empty(n_bootstrap)
    block = max(1, min(n_bootstrap, _BLOCK_CELLS // max(n, 1)))
    for b0 in range(0, n_bootstrap, block):
        b = min(block, n_bootstrap - b0)
        y = rng.random((b, n)) < ps
        pos = np.add.reduceat(y, starts, axis=1, dtype=np.int64)
        neg = run_size - pos
        neg_below = np.cumsum(neg, axis=1) - neg
        u = (pos * neg_below).sum(axis=1) + 0.5 * (pos * neg).sum(axis=1)
        n_pos = pos.sum(axis=1)
        pairs = n_pos * (n - n_pos)
        with np.errstate(divide="ignore", invalid="ignore"):
            auc[b0:b0 + b] = np.where(pairs > 0, u / pairs, np.nan)
        ll[b0:b0 + b] = (base - y @ logit) / n
        rate[b0:b0 + b] = n_pos / n
    return auc, ll, rate


class CBPE:
    """Confidence-based performance estimation of a binary classifier without labels.

    Hyperparameters are checked here; data goes to :meth:`estimate_performance`.

    Parameters
    ----------
    alpha : float
        Significance level: the intervals have coverage ``1 - alpha``.
    n_bootstrap : int
        Label vectors simulated for the intervals (0: point estimates only) with
        ``interval="bootstrap"``.
    random_state : None, int or numpy.random.Generator
        Seed of the simulation (an int gives the same interval on every call).
    threshold : float
        Score threshold of the expected confusion matrix.
    eps : float, optional
        Clipping of the probabilities in the log-loss (default machine epsilon).
    interval : {"bootstrap", "normal"}
        Percentile intervals of simulated labels, or Wald intervals with the analytic
        standard errors of :func:`grouped_cbpe` (no simulation; ``n_bootstrap`` unused).

    Notes
    -----
    See the module docstring for the formulas, the calibration assumption and how the
    estimate relates to NannyML's.
    """

    def __init__(self, alpha: float = 0.05, n_bootstrap: int = 200, random_state: Any = 0,
                 threshold: float = 0.5, eps: float | None = None, interval: str = "bootstrap"):
        self.alpha = v.check_alpha(alpha)
        self.n_bootstrap = v.check_int(n_bootstrap, "n_bootstrap", minimum=0)
        v.check_random_state(random_state)  # validates; a Generator is kept, not consumed
        self.random_state = random_state
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold):
            raise ValueError(f"`threshold` must be a finite number, got {threshold!r}")
        self.threshold = float(threshold)
        self.eps = _check_eps(eps)
        if interval not in INTERVALS:
            raise ValueError(f"`interval` must be one of {INTERVALS}, got {interval!r}")
        self.interval = interval

    def estimate_performance(self, y_prob: Any, y_score: Any = None) -> PerformanceEstimate:
        """Expected AUC, log-loss, positive rate and confusion matrix, with intervals.

        Parameters
        ----------
        y_prob : array-like of float in [0, 1]
            Calibrated probabilities of a positive label, one per row.
        y_score : array-like of float, optional
            Ranking scores (default: ``y_prob``).

        Returns
        -------
        PerformanceEstimate
        """
        p, s = _inputs(y_prob, y_score)
        n = int(p.size)
        nan = math.nan
        if n == 0:
            raise ValueError("`y_prob` is empty: at least 1 observation is needed")
        cm = expected_confusion_matrix(p, s, self.threshold)
        ps, starts = _runs(p, s)
        est = _expected_auc_sorted(ps, starts) if n >= 2 else nan
        reason = None
        if not math.isfinite(est):
            reason = ("fewer than 2 rows" if n < 2 else
                      "no row pair can be one positive and one negative (all y_prob are 0, "
                      "or all are 1)")
        ll = expected_log_loss(p, self.eps)
        rate = float(p.mean())
        se = lo = hi = ll_lo = ll_hi = r_lo = r_hi = nan
        n_undef = 0
        method = "none"
        if self.interval == "normal":
            one = grouped_cbpe(p, s, np.zeros(n, dtype=np.int64), 1, eps=self.eps,
                               score_order=np.argsort(s))
            se = float(one.auc_std_error[0])
            lo, hi = normal_interval(est, se, self.alpha, (0.0, 1.0))
            ll_lo, ll_hi = normal_interval(ll, float(one.log_loss_std_error[0]), self.alpha)
            r_lo, r_hi = normal_interval(rate, float(one.positive_rate_std_error[0]), self.alpha)
            method = "normal"
        elif self.n_bootstrap > 0:
            rng = v.check_random_state(self.random_state)
            auc_b, ll_b, rate_b = _simulate(ps, starts, self.n_bootstrap, rng, self.eps)
            n_undef = int(np.isnan(auc_b).sum())
            se, lo, hi = percentile_interval(auc_b, self.alpha)
            _, ll_lo, ll_hi = percentile_interval(ll_b, self.alpha)
            _, r_lo, r_hi = percentile_interval(rate_b, self.alpha)
            method = "bernoulli_simulation"
        return PerformanceEstimate(
            estimate=est, std_error=se, ci_low=lo, ci_high=hi, log_loss=ll,
            log_loss_ci_low=ll_lo, log_loss_ci_high=ll_hi, positive_rate=rate,
            positive_rate_ci_low=r_lo, positive_rate_ci_high=r_hi, threshold=self.threshold,
            expected_tp=cm["tp"], expected_fp=cm["fp"], expected_tn=cm["tn"],
            expected_fn=cm["fn"], n=n, n_undefined=n_undef,
            n_bootstrap=self.n_bootstrap if self.interval == "bootstrap" else 0,
            alpha=self.alpha, method=method, reason=reason,
        )
