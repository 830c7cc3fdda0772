r"""A/A calibration on a team's own logs: placebo re-randomisations of the real users.

Without any ground truth a team can still check that its metrics' standard errors and
p-values are honest: split the experiment's real users at random into two placebo arms,
many times, and run each metric's estimator on every split. No treatment separates the
placebo arms, so a calibrated test rejects at rate :math:`\alpha`, and the spread of the
placebo effects matches the standard errors the estimator reports.

- **Placebo split.** Replicate :math:`r` puts user :math:`u` in placebo arm B when the top
  bit of :math:`h(u \oplus s_r)` is set, with :math:`h` SplitMix64's 64-bit mix and the
  replicate's salt :math:`s_r = h(h(\text{random\_state}) + r)`: a Bernoulli(1/2)
  assignment per user, as production hash bucketing does, deterministic (same salt, same
  split) and independent of the other users. Arm A plays control, B treatment.
- **Same estimators as** ``fct_experiment_results``: Welch for per-user means, the delta
  method for ratio metrics, CUPED on the pre-period covariate (within-arm pooled theta,
  users without a pre-period on their own intercept), and CUPED on the eventual
  (delay-corrected) column of the metrics on purchases. They are evaluated for all
  replicates at once: with the arms as a users x replicates 0/1 matrix, each arm's
  moments :math:`\sum_{i \in a} v_i v_i^\top` of the per-user variables :math:`v` (1, the
  metric's columns, the covariates) are one matrix product, and every estimator's
  linearisation, theta and residual variance is a quadratic form in them. The result
  equals the package's estimator on each replicate's explicit split (tests: 1e-9).
- **Summary** per metric and estimator over the :math:`R` replicates: the false-positive
  rate :math:`\hat f = \#\{p < \alpha\}/R` beside its binomial standard error under
  calibration :math:`\sqrt{\alpha(1-\alpha)/R}`, miscalibrated when
  :math:`\hat f > \alpha + 2\,SE` (2.4% of calibrated metrics by chance at R = 200); and the
  spread ratio :math:`\operatorname{sd}(\hat\Delta_r) / \sqrt{\overline{SE_r^2}}` (1 when
  the standard errors are honest, above 1 when they are too small, e.g. ignoring
  clustering) with the chi-square interval :math:`\hat\rho\,[\sqrt{(R-1)/\chi^2_{R-1,
  1-\alpha/2}},\ \sqrt{(R-1)/\chi^2_{R-1,\alpha/2}}]` (normal placebo effects, the mean
  squared SE taken as known).

Splitting all included users regardless of their real arm keeps a real treatment effect
:math:`\delta` out of the placebo effect's expectation (each placebo arm mixes the real
arms equally in expectation); it adds :math:`\delta^2/4` to the per-user variance of both
the placebo effects and the standard errors alike, so calibration is unaffected.

References
----------
Kohavi, R., Tang, D., Xu, Y. (2020). Trustworthy Online Controlled Experiments, ch. 19
(A/A tests).
Steele, G. L., Lea, D., Flood, C. H. (2014). Fast splittable pseudorandom number
generators. OOPSLA 2014 (SplitMix64).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pyarrow as pa
from scipy import stats

from receval import _validation as v
from receval.experiments.cuped import adjusted_arm_variances
from receval.experiments.registry import METRICS, MetricSpec, read_registry
from receval.warehouse import require_finite

__all__ = ["PlaceboEstimates", "aa_calibration", "calibration_summary", "placebo_arms",
           "placebo_estimates", "splitmix64"]


def splitmix64(x) -> np.ndarray:
    """SplitMix64's output for state ``x`` (uint64 in and out): a bijective 64-bit mix."""
    z = np.asarray(x, dtype=np.uint64)
    with np.errstate(over="ignore"):  # the mix is arithmetic modulo 2^64
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def placebo_arms(user_ids, n_replicates: int, random_state: int = 0) -> np.ndarray:
    """Users x replicates boolean matrix: True where the user is in placebo arm B.

    Replicate ``r``'s salt is ``splitmix64(splitmix64(random_state) + r)``; a user is in
    arm B when the top bit of ``splitmix64(user_id ^ salt)`` is set.
    """
    n_replicates = v.check_int(n_replicates, "n_replicates", minimum=1)
    random_state = v.check_int(random_state, "random_state", minimum=0)
    ids = np.asarray(user_ids, dtype=np.int64).view(np.uint64)  # two's complement, bijective
    with np.errstate(over="ignore"):
        salts = splitmix64(splitmix64(random_state) + np.arange(n_replicates, dtype=np.uint64))
    return (splitmix64(ids[:, None] ^ salts[None, :]) >> np.uint64(63)).astype(bool)


# ---------------------------------------------------------------- vectorised estimators
# Each arm is summarised per replicate by its moment matrix M = sum_i v_i v_i' (R x k x k)
# over per-user variables v (column 0 the constant 1). A linearisation is an arm
# statistic with coefficients c (R x k) such that c'v_i is user i's centred influence
# value; its sum of squares over the arm is c'Mc.
Linearisation = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def _mean(j: int) -> Linearisation:
    """The arm mean of variable j; influence y_i - ybar."""
    def lin(M):
        stat = M[:, 0, j] / M[:, 0, 0]
        coef = np.zeros(M.shape[:2])
        coef[:, j], coef[:, 0] = 1.0, -stat
        return stat, coef
    return lin


def _ratio(jn: int, jd: int) -> Linearisation:
    """The arm ratio of sums of variables jn / jd; influence (x_i - R y_i) / ybar
    (receval.experiments.ratio.ratio_linearization)."""
    def lin(M):
        stat = M[:, 0, jn] / M[:, 0, jd]
        ybar = M[:, 0, jd] / M[:, 0, 0]
        coef = np.zeros(M.shape[:2])
        coef[:, jn], coef[:, jd] = 1.0 / ybar, -stat / ybar
        return stat, coef
    return lin


def _fit(szz: np.ndarray, szl: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per replicate, receval.experiments.cuped._fit: theta, the inverse of the kept
    covariates' cross-products (0 for the others) and the number kept; covariates without
    within-arm variance are not fitted, the rest get the (minimum-norm) least-squares solution."""
    p = szz.shape[1]
    if p == 0:
        return np.zeros((szz.shape[0], 0)), np.zeros((szz.shape[0], 0, 0)), np.zeros(szz.shape[0])
    d = np.diagonal(szz, axis1=1, axis2=2)
    keep = d > 1e-12 * np.maximum(1.0, d.max(axis=1, keepdims=True))
    both = keep[:, :, None] & keep[:, None, :]
    # a dropped covariate gets an identity row and column to invert, then a zero one
    inverse = np.where(both, np.linalg.pinv(np.where(both, szz, 0.0) + np.eye(p) * ~keep[:, :, None]), 0.0)
    return np.einsum("rpq,rq->rp", inverse, szl), inverse, keep.sum(axis=1)


def _two_arm(arms: list[np.ndarray], metric: Linearisation,
             covariates: list[Linearisation]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Effect (arm B - arm A), standard error and df of CUPED with ``covariates`` (none:
    the raw Welch / delta-method estimate), as receval.experiments.cuped.CUPED computes
    them: theta from the pooled within-arm cross-products, effect = the difference of arm
    statistics minus theta' the difference of covariate statistics, arm variances from the
    residual sums of squares (:func:`~receval.experiments.cuped.adjusted_arm_variances`);
    NaN where the arms hold no more users than 2 + the covariates fitted."""
    parts = []
    for M in arms:
        stat, lin = metric(M)
        cov = [c(M) for c in covariates]
        S = np.stack([s for s, _ in cov], axis=1) if cov else np.zeros((len(stat), 0))
        Z = np.stack([z for _, z in cov], axis=1) if cov else np.zeros((len(stat), 0, M.shape[1]))
        parts.append((M, stat, lin, S, Z))
    szz = sum(np.einsum("rpk,rkl,rql->rpq", Z, M, Z) for M, _, _, _, Z in parts)
    szl = sum(np.einsum("rpk,rkl,rl->rp", Z, M, lin) for M, _, lin, _, Z in parts)
    theta, inverse, k = _fit(szz, szl)
    (_, stat_a, _, S_a, _), (_, stat_b, _, S_b, _) = parts
    dS = S_b - S_a
    effect = (stat_b - stat_a) - np.einsum("rp,rp->r", dS, theta)
    ss = []
    for M, _, lin, _, Z in parts:
        resid = lin - np.einsum("rp,rpk->rk", theta, Z)
        ss.append(np.einsum("rk,rkl,rl->r", resid, M, resid))
    n_a, n_b = arms[0][:, 0, 0], arms[1][:, 0, 0]
    fits = n_a + n_b - 2 - k > 0
    vc, vt, df = adjusted_arm_variances(*ss, n_a, n_b, np.einsum("rp,rpq,rq->r", dS, inverse, dS),
                                        np.where(fits, k, 0))
    se = np.where(fits, np.sqrt(vc + vt), np.nan)
    return np.where(fits, effect, np.nan), se, np.where(fits, df, np.nan)


def _p_values(effect: np.ndarray, se: np.ndarray, df: np.ndarray) -> np.ndarray:
    """Two-sided p-values as receval.experiments._common.build_estimate: t (normal for an
    infinite df) on effect / se; with se 0 the difference is exact (p 1 if 0, else 0);
    NaN where the estimate is."""
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.abs(effect / se)
    p = np.where(np.isinf(df), 2.0 * stats.norm.sf(z), 2.0 * stats.t.sf(z, np.where(np.isinf(df), 1.0, df)))
    return np.where(np.isnan(se), np.nan, np.where(se > 0, p, np.where(effect == 0, 1.0, 0.0)))


@dataclass(frozen=True)
class PlaceboEstimates:
    """One estimator over the placebo replicates (arrays of length R; NaN where the
    estimator is undefined on that split: an arm with fewer than 2 users, or with no
    denominator / pre-period denominator of a ratio metric)."""

    estimator: str   # raw / cuped / cuped_delay_corrected
    method: str      # welch / delta_method_ratio / cuped_mean / cuped_ratio
    effect: np.ndarray
    std_error: np.ndarray
    p_value: np.ndarray


def _arm_moments(V: np.ndarray, in_b: np.ndarray) -> list[np.ndarray]:
    """Per replicate, the moment matrices sum_i v_i v_i' of placebo arms A and B (R x k x k)."""
    k = V.shape[1]
    products = (V[:, :, None] * V[:, None, :]).reshape(len(V), k * k)
    return [(m.T.astype(float) @ products).reshape(-1, k, k) for m in (~in_b, in_b)]


def _estimate(arms: list[np.ndarray], metric: Linearisation, covariates: list[Linearisation],
              positive: list[int], estimator: str, method: str) -> PlaceboEstimates:
    """The estimator on the replicates where both arms have 2+ users and a positive sum of
    each variable in ``positive`` (the pipeline's estimators raise on the others)."""
    ok = np.logical_and.reduce([M[:, 0, 0] >= 2 for M in arms] + [M[:, 0, j] > 0 for M in arms for j in positive])
    out = np.full((3, len(ok)), np.nan)
    if ok.any():
        effect, se, df = _two_arm([M[ok] for M in arms], metric, covariates)
        out[:, ok] = effect, se, _p_values(effect, se, df)
    return PlaceboEstimates(estimator, method, *out)


def placebo_estimates(columns: dict[str, np.ndarray], spec: MetricSpec, in_b: np.ndarray) -> list[PlaceboEstimates]:
    """The estimators ``fct_experiment_results`` reports for one metric, on every placebo split.

    Parameters
    ----------
    columns : dict of str -> numpy.ndarray
        Per-user columns of ``fct_experiment_user_metrics`` (one experiment's included
        users): the spec's columns and ``has_pre_period``.
    spec : MetricSpec
        The metric.
    in_b : numpy.ndarray of bool, shape (users, replicates)
        The placebo splits (:func:`placebo_arms`).

    Returns
    -------
    list of PlaceboEstimates
        ``raw`` and ``cuped``, and ``cuped_delay_corrected`` for a metric with an eventual
        column that is known for every user (as in ``fct_experiment_results``).
    """
    ones = np.ones(in_b.shape[0])
    if spec.kind == "ratio":
        x, y = (v.check_finite(columns[c], c) for c in (spec.column, spec.denominator))
        pn = v.check_finite(columns[spec.pre_column], spec.pre_column, allow_nan=True)
        pd_ = v.check_finite(columns[spec.pre_denominator], spec.pre_denominator, allow_nan=True)
        miss = np.isnan(pn) | np.isnan(pd_) | (np.nan_to_num(pd_) == 0)
        # variables 1, x, y, the pre-period x and y (0 without a pre-period), the indicator
        pre = [np.where(miss, 0.0, c) for c in (pn, pd_)]
        arms = _arm_moments(np.column_stack([ones, x, y, *pre, miss]), in_b)
        covariates = [_ratio(3, 4)] + ([_mean(5)] if miss.any() else [])
        return [
            _estimate(arms, _ratio(1, 2), [], [2], "raw", "delta_method_ratio"),
            _estimate(arms, _ratio(1, 2), covariates, [2, 4], "cuped", "cuped_ratio"),
        ]
    # mean metric: variables 1, y, the covariate (0 without a pre-period), the no-pre-period indicator
    miss = ~np.asarray(columns["has_pre_period"], dtype=bool)
    pre = np.where(miss, 0.0, v.check_finite(columns[spec.pre_column], spec.pre_column, allow_nan=True))
    covariates = [_mean(2)] + ([_mean(3)] if miss.any() else [])
    arms = _arm_moments(np.column_stack([ones, v.check_finite(columns[spec.column], spec.column), pre, miss]), in_b)
    out = [_estimate(arms, _mean(1), [], [], "raw", "welch"),
           _estimate(arms, _mean(1), covariates, [], "cuped", "cuped_mean")]
    eventual = None if spec.corrected_column is None else np.asarray(columns[spec.corrected_column], dtype=float)
    if eventual is not None and np.isfinite(eventual).all():  # else no delay curve: no corrected figures
        arms = _arm_moments(np.column_stack([ones, eventual, pre, miss]), in_b)
        out.append(_estimate(arms, _mean(1), covariates, [], "cuped_delay_corrected", "cuped_mean"))
    return out


# ------------------------------------------------------------------------------ summary
def calibration_summary(effect: np.ndarray, std_error: np.ndarray, p_value: np.ndarray, alpha: float) -> dict:
    """False-positive rate and spread ratio of placebo estimates (NaN replicates left out).

    Returns a dict with ``n_replicates``, ``n_false_positives``, ``false_positive_rate``,
    ``binomial_std_error`` (``sqrt(alpha (1 - alpha) / R)``),
    ``false_positive_rate_upper_limit`` (``alpha + 2 SE``), ``mean_placebo_effect`` and its
    standard error, ``placebo_effect_sd``, ``rms_std_error``, ``spread_ratio`` with its
    chi-square ``1 - alpha`` interval, and ``status`` (``miscalibrated`` when the rate is
    above the upper limit, else ``ok``).
    """
    alpha = v.check_alpha(alpha)
    ok = np.isfinite(p_value)
    effect, std_error, p_value = effect[ok], std_error[ok], p_value[ok]
    r = int(ok.sum())
    if r < 2:
        raise ValueError(f"calibration needs at least 2 replicates with a defined estimate, got {r}")
    fp = int(np.sum(p_value < alpha))
    se = float(np.sqrt(alpha * (1 - alpha) / r))
    sd, rms = float(np.std(effect, ddof=1)), float(np.sqrt(np.mean(std_error**2)))
    ratio = sd / rms if rms > 0 else np.nan
    chi_hi, chi_lo = stats.chi2.ppf([1 - alpha / 2, alpha / 2], r - 1)
    return dict(
        n_replicates=r, n_false_positives=fp, false_positive_rate=fp / r, binomial_std_error=se,
        false_positive_rate_upper_limit=alpha + 2 * se,
        mean_placebo_effect=float(effect.mean()), mean_placebo_effect_std_error=sd / np.sqrt(r),
        placebo_effect_sd=sd, rms_std_error=rms, spread_ratio=ratio,
        spread_ratio_ci_low=ratio * float(np.sqrt((r - 1) / chi_hi)),
        spread_ratio_ci_high=ratio * float(np.sqrt((r - 1) / chi_lo)),
        status="miscalibrated" if fp / r > alpha + 2 * se else "ok",
    )


# --------------------------------------------------------------------------------- mart
def aa_calibration(user_metrics: pa.Table, registry: pa.Table, n_replicates: int = 200,
                   random_state: int = 0) -> pa.Table:
    """``fct_aa_calibration``: one row per experiment x registry metric x estimator.

    Each experiment's included users (all real arms together) are split into placebo arms
    ``n_replicates`` times (:func:`placebo_arms`, salts from ``random_state``); every
    estimator ``fct_experiment_results`` reports for the metric is run on each split
    (:func:`placebo_estimates`) and summarised (:func:`calibration_summary`) at the
    metric's registry alpha. An experiment of fewer than 4 users, or an estimator defined
    on fewer than 2 splits, has no row.

    Parameters
    ----------
    user_metrics : pa.Table
        ``fct_experiment_user_metrics`` (one row per included user x experiment).
    registry : pa.Table
        The ``experiment_registry`` seed.
    n_replicates : int, default 200
        Placebo splits per experiment (var ``experiment_aa_replicates``), at least 2.
    random_state : int, default 0
        Seed of the replicates' salts (var ``experiment_aa_random_state``), >= 0.
    """
    n_replicates = v.check_int(n_replicates, "n_replicates (var experiment_aa_replicates)", minimum=2)
    random_state = v.check_int(random_state, "random_state (var experiment_aa_random_state)", minimum=0)
    require_finite(user_metrics, "fct_experiment_user_metrics")
    metrics = read_registry(registry).metrics
    exp_col = user_metrics.column("experiment_id").to_numpy(zero_copy_only=False).astype(object)
    out = []
    for exp in sorted(metrics):
        rows = user_metrics.filter(pa.array(exp_col == exp))
        if rows.num_rows < 4:
            continue  # no split gives two arms of 2+ users
        in_b = placebo_arms(rows.column("user_id").to_numpy(zero_copy_only=False), n_replicates, random_state)
        for m in metrics[exp]:
            spec, alpha = METRICS[m["name"]], float(m["alpha"])
            needed = {"has_pre_period", spec.column, spec.pre_column} | {
                c for c in (spec.denominator, spec.pre_denominator, spec.corrected_column) if c}
            columns = {c: rows.column(c).to_numpy(zero_copy_only=False).astype(float) for c in needed}
            for est in placebo_estimates(columns, spec, in_b):
                if np.isfinite(est.p_value).sum() < 2:
                    continue
                out.append(dict(
                    experiment_id=exp, metric=m["name"], metric_type=spec.kind, estimator=est.estimator,
                    method=est.method, alpha=alpha, n_users=rows.num_rows,
                    **calibration_summary(est.effect, est.std_error, est.p_value, alpha),
                    random_state=random_state,
                ))
    return pa.Table.from_pylist(out, schema=_SCHEMA)


_SCHEMA = pa.schema([
    ("experiment_id", pa.string()), ("metric", pa.string()), ("metric_type", pa.string()),
    ("estimator", pa.string()), ("method", pa.string()), ("alpha", pa.float64()), ("n_users", pa.int64()),
    ("n_replicates", pa.int64()), ("n_false_positives", pa.int64()), ("false_positive_rate", pa.float64()),
    ("binomial_std_error", pa.float64()), ("false_positive_rate_upper_limit", pa.float64()),
    ("mean_placebo_effect", pa.float64()), ("mean_placebo_effect_std_error", pa.float64()),
    ("placebo_effect_sd", pa.float64()), ("rms_std_error", pa.float64()), ("spread_ratio", pa.float64()),
    ("spread_ratio_ci_low", pa.float64()), ("spread_ratio_ci_high", pa.float64()),
    ("status", pa.string()), ("random_state", pa.int64()),
])
