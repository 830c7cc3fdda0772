"""Arrow tables in, Arrow tables out: the experiment marts that dbt Python models publish.

Each function here is the *one package call* of a thin dbt Python model
(``python_models/experiments/``): it takes the warehouse's per-user / per-request tables
(already filtered and aggregated in SQL) as Arrow tables, runs the estimators of this
package over the registry's experiments, variants and metrics, and returns one Arrow table
per mart, one row per grain, with every number's standard error or interval and its
sample size. The statistics live in the estimator modules; this module only selects the
cells, calls them and lays out the rows. No dbt imports.

Which registry name measures what: :mod:`receval.experiments.registry`; the analysis of one
metric (raw, CUPED, mSPRT): :mod:`receval.experiments.analysis`.
"""
from __future__ import annotations

import math
from dataclasses import replace
from datetime import date, datetime, time, timedelta, timezone

import numpy as np
import pyarrow as pa

from receval.delayed.marts import maturity_of_counts, share_to_come
from receval.experiments.analysis import analyze_metric, cuped_effect
from receval.experiments.bandit import ThompsonSampling
from receval.experiments.decision import DecisionRule
from receval.experiments.guardrails import MeanNonInferiority, QuantileNonInferiority
from receval.experiments.interleaving import InterleavingAnalysis
from receval.experiments.multiple import BenjaminiHochberg
from receval.experiments.registry import GUARDRAILS, METRICS, MetricSpec, read_registry
from receval.experiments.results import EffectEstimate, NonInferiorityResult, SRMResult
from receval.experiments.shadow import ShadowComparison
from receval.experiments.srm import SampleRatioMismatch, observed_share_intervals
from receval.metrics.uncertainty import mean_with_clt
from receval.warehouse import require_finite

__all__ = ["bandit_allocations", "experiment_results", "experiment_scorecard", "guardrail_checks",
           "interleaving_results", "shadow_comparison", "srm_checks"]


def _col(table: pa.Table, name: str) -> np.ndarray:
    return table.column(name).to_numpy(zero_copy_only=False)


def _split(users: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[mask] for k, v in users.items()}


# ------------------------------------------------------------------- experiment results
def experiment_results(user_metrics: pa.Table, registry: pa.Table,
                       msprt_relative_effect: float = 0.05) -> pa.Table:
    """``fct_experiment_results``: one row per experiment x treatment variant x metric.

    Raw (Welch for means, delta method for ratios) and CUPED side by side, the variance
    reduction CUPED achieved next to the within-arm pre/post correlation, Benjamini-Hochberg
    adjusted p-values across the experiment's metrics (raw and CUPED separately), and the
    always-valid mSPRT p-value and confidence sequence over daily looks. Metrics on
    purchases also carry ``label_maturity``, ``expected_share_to_come`` and the CUPED
    analysis of their eventual per-user column (``corrected_*``, see ``_delay_correction``).

    Parameters
    ----------
    user_metrics : pa.Table
        ``fct_experiment_user_metrics`` (one row per included user x experiment).
    registry : pa.Table
        The ``experiment_registry`` seed.
    msprt_relative_effect : float
        mSPRT mixing sd as a fraction of the metric's pre-period value.
    """
    require_finite(user_metrics, "fct_experiment_user_metrics")
    reg = read_registry(registry)
    variants, metrics = reg.variants, reg.metrics
    exp_col = _col(user_metrics, "experiment_id").astype(object)
    var_col = _col(user_metrics, "variant").astype(object)
    needed = {"has_pre_period", "first_exposure_date", "clicks_immature"}
    for spec in METRICS.values():
        needed |= {spec.column, spec.pre_column} | {
            x for x in (spec.denominator, spec.pre_denominator, spec.corrected_column) if x}
    cols = {k: _col(user_metrics, k) for k in needed}
    cols["has_pre_period"] = cols["has_pre_period"].astype(bool)
    cols["first_exposure_day"] = cols.pop("first_exposure_date").astype("datetime64[D]").astype(np.int64)
    for k in list(cols):
        if k not in ("has_pre_period", "first_exposure_day"):
            cols[k] = cols[k].astype(float)
    out = []
    for exp in sorted(metrics):
        control = reg.control(exp)
        c = _split(cols, (exp_col == exp) & (var_col == control))
        for vrow in variants[exp]:
            if vrow["is_control"]:
                continue
            t = _split(cols, (exp_col == exp) & (var_col == vrow["name"]))
            rows = []
            for m in metrics[exp]:
                spec, alpha = METRICS[m["name"]], float(m["alpha"])
                if len(c["has_pre_period"]) < 2 or len(t["has_pre_period"]) < 2:
                    continue
                a = analyze_metric(spec, m["name"], c, t, alpha, msprt_relative_effect)
                raw, cuped, seq = a.raw, a.cuped, a.sequential
                rows.append(dict(
                    experiment_id=exp, variant=vrow["name"], control_variant=control,
                    metric=m["name"], metric_type=spec.kind, role=m["role"],
                    higher_is_better=bool(m["higher_is_better"]), alpha=alpha,
                    n_control=raw.n_control, n_treatment=raw.n_treatment,
                    control_mean=raw.control_mean, treatment_mean=raw.treatment_mean,
                    effect=raw.effect, relative_effect=raw.relative_effect,
                    std_error=raw.std_error, ci_low=raw.ci_low, ci_high=raw.ci_high,
                    relative_std_error=raw.relative_std_error,
                    relative_ci_low=raw.relative_ci_low, relative_ci_high=raw.relative_ci_high,
                    p_value=raw.p_value, df=raw.df, method=raw.method,
                    cuped_control_mean=cuped.control_mean, cuped_treatment_mean=cuped.treatment_mean,
                    cuped_effect=cuped.effect, cuped_relative_effect=cuped.relative_effect,
                    cuped_std_error=cuped.std_error, cuped_ci_low=cuped.ci_low, cuped_ci_high=cuped.ci_high,
                    cuped_relative_std_error=cuped.relative_std_error,
                    cuped_relative_ci_low=cuped.relative_ci_low, cuped_relative_ci_high=cuped.relative_ci_high,
                    cuped_p_value=cuped.p_value, cuped_df=cuped.df,
                    cuped_theta=float(cuped.theta[0]),
                    cuped_theta_no_pre_period=float(cuped.theta[1]) if len(cuped.theta) > 1 else None,
                    variance_reduction=cuped.variance_reduction,
                    pre_post_correlation=a.pre_post_correlation, pre_post_r_squared=a.pre_post_r_squared,
                    n_without_pre_period=cuped.n_without_pre_period,
                    msprt_mixing_variance=a.mixing_variance,
                    msprt_p_value=None if seq is None else seq.final_p_value,
                    msprt_cs_low=None if seq is None else seq.cs_low[-1],
                    msprt_cs_high=None if seq is None else seq.cs_high[-1],
                    msprt_first_rejection_look=None if seq is None else seq.first_rejection_look,
                    msprt_n_looks=0 if seq is None else len(seq.effect),
                    **_delay_correction(spec, m["name"], c, t, alpha),
                ))
            for prefix in ("", "cuped_"):
                if rows:
                    bh = BenjaminiHochberg(min(r["alpha"] for r in rows)).adjust(
                        [r[f"{prefix}p_value"] for r in rows])
                    for r, adj in zip(rows, bh.adjusted_p_values):
                        r[f"{prefix}bh_adjusted_p_value"] = float(adj)
            out += rows
    return pa.Table.from_pylist(out, schema=_RESULTS_SCHEMA)


def _delay_correction(spec: MetricSpec, name: str, c: dict[str, np.ndarray], t: dict[str, np.ndarray],
                      alpha: float) -> dict:
    r"""``label_maturity``, ``expected_share_to_come`` and the ``corrected_*`` CUPED estimate
    of a metric on purchases (none for the others): the same analysis on the per-user
    eventual column. ``purchases_corrected`` and ``revenue_corrected`` weight each purchase
    seen by 1 / the probability it has arrived (unbiased given the delay curve);
    ``converted_corrected`` (``conversion_rate``) imputes the eventual indicator,
    :math:`1 - \prod_i (1 - q_i)` over the user's clicks not converted yet with
    :math:`q_i = \pi (1 - F_i) / (1 - \pi F_i)` and :math:`\pi` the arm's eventual
    conversion rate per click. That imputation assumes a click's conversion does not depend
    on the user within the arm, and its standard error leaves out the uncertainty of
    :math:`\pi` and of the curve."""
    if not spec.depends_on_purchases:
        return {}
    immature = float(c["clicks_immature"].sum() + t["clicks_immature"].sum())
    clicks = float(c["clicks"].sum() + t["clicks"].sum())
    out = {"label_maturity": maturity_of_counts(immature, clicks)}
    if spec.corrected_column is None:
        return {**out, "corrected_reason": "the metric has no eventual per-user column"}
    eventual = np.concatenate([c[spec.corrected_column], t[spec.corrected_column]])
    if not np.isfinite(eventual).all():
        return {**out, "corrected_reason": "no delay curve (int_delayed__click_arrival says why)"}
    out["expected_share_to_come"] = share_to_come(c[spec.column].sum() + t[spec.column].sum(), eventual.sum())
    est = cuped_effect(replace(spec, column=spec.corrected_column), name, c, t, alpha)
    return {**out, **{f"corrected_{k}": getattr(est, k) for k in _CORRECTED_FIELDS}}


_CORRECTED_FIELDS = ("control_mean", "treatment_mean", "effect", "relative_effect", "std_error",
                     "ci_low", "ci_high", "relative_std_error", "relative_ci_low", "relative_ci_high",
                     "p_value", "df")

_RESULTS_SCHEMA = pa.schema([
    ("experiment_id", pa.string()), ("variant", pa.string()), ("control_variant", pa.string()),
    ("metric", pa.string()), ("metric_type", pa.string()), ("role", pa.string()),
    ("higher_is_better", pa.bool_()), ("alpha", pa.float64()),
    ("n_control", pa.int64()), ("n_treatment", pa.int64()),
    ("control_mean", pa.float64()), ("treatment_mean", pa.float64()),
    ("effect", pa.float64()), ("relative_effect", pa.float64()),
    ("std_error", pa.float64()), ("ci_low", pa.float64()), ("ci_high", pa.float64()),
    ("relative_std_error", pa.float64()), ("relative_ci_low", pa.float64()), ("relative_ci_high", pa.float64()),
    ("p_value", pa.float64()), ("bh_adjusted_p_value", pa.float64()), ("df", pa.float64()), ("method", pa.string()),
    ("cuped_control_mean", pa.float64()), ("cuped_treatment_mean", pa.float64()),
    ("cuped_effect", pa.float64()), ("cuped_relative_effect", pa.float64()),
    ("cuped_std_error", pa.float64()), ("cuped_ci_low", pa.float64()), ("cuped_ci_high", pa.float64()),
    ("cuped_relative_std_error", pa.float64()), ("cuped_relative_ci_low", pa.float64()),
    ("cuped_relative_ci_high", pa.float64()),
    ("cuped_p_value", pa.float64()), ("cuped_bh_adjusted_p_value", pa.float64()), ("cuped_df", pa.float64()),
    ("cuped_theta", pa.float64()), ("cuped_theta_no_pre_period", pa.float64()),
    ("variance_reduction", pa.float64()), ("pre_post_correlation", pa.float64()),
    ("pre_post_r_squared", pa.float64()), ("n_without_pre_period", pa.int64()),
    ("msprt_mixing_variance", pa.float64()), ("msprt_p_value", pa.float64()),
    ("msprt_cs_low", pa.float64()), ("msprt_cs_high", pa.float64()),
    ("msprt_first_rejection_look", pa.int64()), ("msprt_n_looks", pa.int64()),
    ("label_maturity", pa.string()), ("expected_share_to_come", pa.float64()),
    *[(f"corrected_{k}", pa.float64()) for k in _CORRECTED_FIELDS],
    ("corrected_reason", pa.string()),
])


# ------------------------------------------------------------------------------- SRM
def srm_checks(exposures: pa.Table, registry: pa.Table, threshold: float = 0.001,
               alpha: float = 0.05) -> pa.Table:
    """``fct_srm_checks``: one row per experiment x variant (the experiment's chi-square
    test repeated on each of its variant rows), with the observed and expected included
    users, the excluded users (exposed to several variants) and the test; each variant's
    observed share carries its Wald ``1 - alpha`` interval.

    ``exposures`` is ``fct_experiment_exposures`` (one row per user x experiment).
    """
    variants = read_registry(registry).variants
    exp_col = _col(exposures, "experiment_id").astype(object)
    var_col = _col(exposures, "variant").astype(object)
    excluded = _col(exposures, "is_excluded").astype(bool)
    reason = _col(exposures, "exclusion_reason").astype(object)
    out = []
    for exp in sorted(variants):
        names = [v["name"] for v in variants[exp]]
        shares = np.array([float(v["expected_share"]) for v in variants[exp]])
        in_exp = exp_col == exp
        observed = [int(np.sum(in_exp & ~excluded & (var_col == n))) for n in names]
        n_multi = int(np.sum(in_exp & (reason == "multiple_variants")))
        n_unreg = int(np.sum(in_exp & (reason == "unregistered_variant")))
        if sum(observed) == 0:
            continue
        res = SampleRatioMismatch(threshold).test(observed, shares, variants=names)
        share, se, lo, hi = observed_share_intervals(observed, alpha)
        for i, name in enumerate(names):
            out.append(dict(
                experiment_id=exp, variant=name, observed_users=observed[i],
                expected_users=float(res.expected[i]), expected_share=float(res.expected_share[i]),
                observed_share=float(share[i]), observed_share_std_error=float(se[i]),
                observed_share_ci_low=float(lo[i]), observed_share_ci_high=float(hi[i]), alpha=alpha,
                n_users=res.n, n_excluded_multiple_variants=n_multi, n_excluded_unregistered_variant=n_unreg,
                chi_square=float(res.statistic), df=int(res.df), p_value=float(res.p_value),
                threshold=float(res.threshold), srm_detected=bool(res.srm_detected),
            ))
    return pa.Table.from_pylist(out, schema=pa.schema([
        ("experiment_id", pa.string()), ("variant", pa.string()), ("observed_users", pa.int64()),
        ("expected_users", pa.float64()), ("expected_share", pa.float64()), ("observed_share", pa.float64()),
        ("observed_share_std_error", pa.float64()), ("observed_share_ci_low", pa.float64()),
        ("observed_share_ci_high", pa.float64()), ("alpha", pa.float64()), ("n_users", pa.int64()),
        ("n_excluded_multiple_variants", pa.int64()), ("n_excluded_unregistered_variant", pa.int64()),
        ("chi_square", pa.float64()), ("df", pa.int64()), ("p_value", pa.float64()),
        ("threshold", pa.float64()), ("srm_detected", pa.bool_()),
    ]))


# ------------------------------------------------------------------------- guardrails
def guardrail_checks(user_metrics: pa.Table, requests: pa.Table, registry: pa.Table) -> pa.Table:
    """``fct_guardrail_checks``: one row per experiment x treatment variant x guardrail.

    Quantile guardrails (P99 latency) use every request of the included users inside their
    metric window (``int_experiments__exposed_requests``); rate guardrails (error and
    fallback rates) use per-user rates (``fct_experiment_user_metrics``, users with at
    least one request), the user being the randomisation unit. Non-inferiority with the
    registry's margin and one-sided alpha.
    """
    reg = read_registry(registry)
    variants, guardrails = reg.variants, reg.guardrails
    u_exp = _col(user_metrics, "experiment_id").astype(object)
    u_var = _col(user_metrics, "variant").astype(object)
    r_exp = _col(requests, "experiment_id").astype(object)
    r_var = _col(requests, "variant").astype(object)
    out = []
    for exp in sorted(guardrails):
        control = reg.control(exp)
        for vrow in variants[exp]:
            if vrow["is_control"]:
                continue
            for g in guardrails[exp]:
                kind, column, q = GUARDRAILS[g["name"]]
                kw = dict(margin=float(g["margin"]), alpha=float(g["alpha"]),
                          relative_margin=bool(g["relative_margin"]),
                          lower_is_better=not bool(g["higher_is_better"]))
                if kind == "quantile":
                    vals = _col(requests, column).astype(float)
                    c = vals[(r_exp == exp) & (r_var == control)]
                    t = vals[(r_exp == exp) & (r_var == vrow["name"])]
                    c, t = c[~np.isnan(c)], t[~np.isnan(t)]
                    test = QuantileNonInferiority(quantile=q, **kw)
                else:
                    vals = _col(user_metrics, column).astype(float)
                    c = vals[(u_exp == exp) & (u_var == control)]
                    t = vals[(u_exp == exp) & (u_var == vrow["name"])]
                    c, t = c[~np.isnan(c)], t[~np.isnan(t)]
                    test = MeanNonInferiority(**kw)
                try:
                    res = test.test(c, t, metric=g["name"])
                except ValueError:
                    continue  # too few observations in an arm
                d = res.to_dict()
                out.append(dict(
                    experiment_id=exp, variant=vrow["name"], control_variant=control,
                    guardrail=g["name"], method=d["method"], control_value=d["control_value"],
                    treatment_value=d["treatment_value"], effect=d["effect"], std_error=d["std_error"],
                    ci_low=d["ci_low"], ci_high=d["ci_high"], margin=d["margin"],
                    relative_margin=d["relative_margin"], lower_is_better=d["lower_is_better"],
                    p_value=d["p_value"], non_inferior=d["non_inferior"],
                    n_control=d["n_control"], n_treatment=d["n_treatment"],
                    unit="request" if kind == "quantile" else "user", alpha=d["alpha"],
                ))
    return pa.Table.from_pylist(out, schema=pa.schema([
        ("experiment_id", pa.string()), ("variant", pa.string()), ("control_variant", pa.string()),
        ("guardrail", pa.string()), ("method", pa.string()), ("control_value", pa.float64()),
        ("treatment_value", pa.float64()), ("effect", pa.float64()), ("std_error", pa.float64()),
        ("ci_low", pa.float64()), ("ci_high", pa.float64()), ("margin", pa.float64()),
        ("relative_margin", pa.bool_()), ("lower_is_better", pa.bool_()), ("p_value", pa.float64()),
        ("non_inferior", pa.bool_()), ("n_control", pa.int64()), ("n_treatment", pa.int64()),
        ("unit", pa.string()), ("alpha", pa.float64()),
    ]))


# --------------------------------------------------------------------------- scorecard
_EFFECT_FIELDS = [f for f in EffectEstimate.__dataclass_fields__]
_NI_FIELDS = [f for f in NonInferiorityResult.__dataclass_fields__]


# which test decides the scorecard: the always-valid mSPRT while an experiment runs, the
# fixed-horizon (CUPED) test once its planned end is reached
ALWAYS_VALID, FIXED_HORIZON = "always_valid", "fixed_horizon"


def _experiment_starts(exposures: pa.Table) -> dict[str, date]:
    """Each experiment's first exposure date (over every exposed user, excluded or not)."""
    out: dict[str, date] = {}
    for exp, d in zip(exposures.column("experiment_id").to_pylist(),
                      exposures.column("first_exposure_date").to_pylist()):
        if isinstance(d, datetime):
            d = d.date()
        if d is not None and (exp not in out or d < out[exp]):
            out[exp] = d
    return out


def _data_end(data_end: pa.Table) -> datetime:
    """``int_labels__data_end``'s one ``as_of``, as a naive UTC datetime."""
    values = [x for x in data_end.column("as_of").to_pylist() if x is not None]
    if len(values) != 1:
        raise ValueError(f"`data_end` must hold exactly one non-null as_of, got {len(values)}")
    as_of = values[0]
    if isinstance(as_of, date) and not isinstance(as_of, datetime):
        as_of = datetime.combine(as_of, time())
    if as_of.tzinfo is not None:
        as_of = as_of.astimezone(timezone.utc).replace(tzinfo=None)
    return as_of


def _decision_test(planned_days: int | None, start: date | None, as_of: datetime):
    """(decision_test, planned_end_date, is_running, decision_test_reason) of one experiment."""
    if planned_days is None:
        return ALWAYS_VALID, None, True, (
            "no planned duration in the registry (planned_days): no planned end, so the "
            "always-valid mSPRT decides throughout")
    if start is None:
        return ALWAYS_VALID, None, True, (
            f"planned_days {planned_days} but no exposure to count them from: always-valid mSPRT")
    end = start + timedelta(days=planned_days)
    frame = (f"planned end {end.isoformat()} = first exposure {start.isoformat()} + {planned_days} days; "
             f"data end {as_of.isoformat(sep=' ')}")
    if as_of < datetime.combine(end, time()):
        return ALWAYS_VALID, end, True, (
            f"running ({frame}): the always-valid mSPRT decides, as a fixed-horizon p-value read "
            "before the planned end inflates false positives (peeking)")
    return FIXED_HORIZON, end, False, f"planned end reached ({frame}): the fixed-horizon test decides"


def experiment_scorecard(results: pa.Table, srm: pa.Table, guardrails: pa.Table, registry: pa.Table,
                         exposures: pa.Table, data_end: pa.Table, use_cuped: bool = True) -> pa.Table:
    """``rpt_experiment_scorecard``: one row per experiment, the decision and why.

    Which test decides (``decision_test``) follows from the registry's ``planned_days``: the
    planned end is the experiment's first exposure date (``exposures``) + ``planned_days``,
    and the experiment ``is_running`` while the data's end (``data_end.as_of``) is before
    it (00:00 UTC of that date).

    - **Running** (``always_valid``): the primary metric's always-valid mSPRT p-value and
      confidence sequence over daily looks (``fct_experiment_results.msprt_*``; on the raw
      metric as observed, so for a metric on purchases with purchases still to come it is
      the mSPRT of the purchases seen - no delay-corrected mSPRT exists). The effect is the
      raw estimate (``effect``), the interval the confidence sequence. A fixed-horizon
      p-value is never acted on before the planned end; not significant yet is
      ``continue``.
    - **Planned end reached** (``fixed_horizon``): the primary metric's CUPED estimate
      (``use_cuped``; its delay-corrected CUPED estimate where purchases are still to come),
      as before; not significant is ``inconclusive``.
    - **No planned_days** (empty cell, or no column): no planned end, always-valid
      throughout.

    Either way :class:`DecisionRule` (SRM -> guardrails -> primary metric) at the registry's
    alpha and minimum effect; the primary metric is pre-registered, so its unadjusted
    p-value is used. ``p_value``, ``effect``, ``ci_low`` / ``ci_high`` and ``estimator``
    describe the test that decided; ``fixed_horizon_p_value`` and ``msprt_p_value`` are
    both reported whichever decided. With several treatment variants the experiment
    reports the first invalid one, else the one with the smallest deciding p-value.

    Parameters
    ----------
    results, srm, guardrails : pa.Table
        ``fct_experiment_results``, ``fct_srm_checks``, ``fct_guardrail_checks``.
    registry : pa.Table
        The ``experiment_registry`` seed.
    exposures : pa.Table
        ``fct_experiment_exposures`` (``experiment_id``, ``first_exposure_date``): the
        experiment's first exposure date is the earliest of its users'.
    data_end : pa.Table
        ``int_labels__data_end``: one row, ``as_of``.
    use_cuped : bool, default True
        The fixed-horizon test on the CUPED estimate (else the raw one).
    """
    reg = read_registry(registry)
    metrics = reg.metrics
    starts, as_of = _experiment_starts(exposures), _data_end(data_end)
    res_rows, srm_rows, g_rows = results.to_pylist(), srm.to_pylist(), guardrails.to_pylist()
    out = []
    for exp in sorted(metrics):
        primary = next(m for m in metrics[exp] if m["role"] == "primary")
        test, planned_end, running, test_reason = _decision_test(reg.planned_days(exp), starts.get(exp), as_of)
        srm_row = next((r for r in srm_rows if r["experiment_id"] == exp), None)
        srm_res = None if srm_row is None else SRMResult(
            variants=(), observed=(), expected=(), expected_share=(), statistic=srm_row["chi_square"],
            df=srm_row["df"], p_value=srm_row["p_value"], threshold=srm_row["threshold"],
            srm_detected=srm_row["srm_detected"], n=srm_row["n_users"])
        if srm_res is not None:
            exp_srm = [r for r in srm_rows if r["experiment_id"] == exp]
            srm_res = SRMResult(**{**srm_res.to_dict(),
                                   "variants": tuple(r["variant"] for r in exp_srm),
                                   "observed": tuple(r["observed_users"] for r in exp_srm),
                                   "expected": tuple(r["expected_users"] for r in exp_srm),
                                   "expected_share": tuple(r["expected_share"] for r in exp_srm)})
        rule = DecisionRule(alpha=float(primary["alpha"]), higher_is_better=bool(primary["higher_is_better"]),
                            minimum_effect=float(primary["minimum_effect"] or 0.0))
        candidates = []
        for r in res_rows:
            if r["experiment_id"] != exp or r["metric"] != primary["name"]:
                continue
            p = "cuped_" if use_cuped else ""
            if use_cuped and r["label_maturity"] in ("partial", "immature") and r["corrected_effect"] is not None:
                p = "corrected_"  # purchases still to come: read the eventual figures, not a loss
            fixed = EffectEstimate(
                metric=r["metric"], method=("cuped_" + r["metric_type"]) if use_cuped else r["method"],
                control_mean=r[f"{p}control_mean"], treatment_mean=r[f"{p}treatment_mean"],
                effect=r[f"{p}effect"], relative_effect=r[f"{p}relative_effect"],
                std_error=r[f"{p}std_error"], ci_low=r[f"{p}ci_low"], ci_high=r[f"{p}ci_high"],
                relative_std_error=r[f"{p}relative_std_error"], relative_ci_low=r[f"{p}relative_ci_low"],
                relative_ci_high=r[f"{p}relative_ci_high"], p_value=r[f"{p}p_value"],
                n_control=r["n_control"], n_treatment=r["n_treatment"], alpha=r["alpha"],
                df=r[f"{p}df"])
            if test == FIXED_HORIZON:
                est, estimator = fixed, {"cuped_": "cuped", "corrected_": "cuped_delay_corrected"}.get(p, r["method"])
            else:
                # the raw estimate with the always-valid confidence sequence and p-value; no
                # mSPRT look (no positive SE in each arm): nothing to reject with, p = 1
                has_seq = r["msprt_p_value"] is not None
                est = replace(EffectEstimate(**{k: r[k] for k in _EFFECT_FIELDS if k not in ("metric", "method")},
                                             metric=r["metric"], method="msprt_" + r["metric_type"]),
                              ci_low=r["msprt_cs_low"] if has_seq else math.nan,
                              ci_high=r["msprt_cs_high"] if has_seq else math.nan,
                              p_value=r["msprt_p_value"] if has_seq else 1.0)
                estimator = "msprt"
            gs = [NonInferiorityResult(**{k: g[k] if k != "metric" else g["guardrail"] for k in _NI_FIELDS})
                  for g in g_rows if g["experiment_id"] == exp and g["variant"] == r["variant"]]
            dec = rule.decide(est, srm=srm_res, guardrails=gs, experiment_id=exp,
                              is_running=test == ALWAYS_VALID)
            candidates.append((r, est, gs, dec, fixed, estimator))
        if not candidates:
            continue
        invalid = [x for x in candidates if x[3].decision == "invalid"]
        r, est, gs, dec, fixed, estimator = invalid[0] if invalid else min(candidates, key=lambda x: x[1].p_value)
        exp_srm = [x for x in srm_rows if x["experiment_id"] == exp]
        label = "always-valid mSPRT" if test == ALWAYS_VALID else "fixed horizon"
        out.append(dict(
            experiment_id=exp, decision=dec.decision,
            reason=f"{r['variant']} vs {r['control_variant']} ({label}): {dec.reason}",
            decision_test=test, decision_test_reason=test_reason,
            first_exposure_date=starts.get(exp), planned_end_date=planned_end, is_running=running,
            variant=r["variant"], control_variant=r["control_variant"], primary_metric=dec.primary_metric,
            estimator=estimator,
            control_mean=est.control_mean, treatment_mean=est.treatment_mean,
            effect=dec.effect, relative_effect=est.relative_effect, std_error=est.std_error,
            ci_low=_none_if_nan(dec.ci_low), ci_high=_none_if_nan(dec.ci_high),
            p_value=dec.p_value if (test == FIXED_HORIZON or r["msprt_p_value"] is not None) else None,
            fixed_horizon_p_value=fixed.p_value, msprt_p_value=r["msprt_p_value"], alpha=rule.alpha,
            srm_p_value=dec.srm_p_value, srm_detected=bool(srm_res.srm_detected) if srm_res else None,
            n_guardrails=len(gs), n_guardrails_failed=len(dec.failed_guardrails),
            failed_guardrails=", ".join(dec.failed_guardrails),
            n_control=est.n_control, n_treatment=est.n_treatment,
            n_excluded_users=(exp_srm[0]["n_excluded_multiple_variants"]
                              + exp_srm[0]["n_excluded_unregistered_variant"]) if exp_srm else 0,
        ))
    return pa.Table.from_pylist(out, schema=pa.schema([
        ("experiment_id", pa.string()), ("decision", pa.string()), ("reason", pa.string()),
        ("decision_test", pa.string()), ("decision_test_reason", pa.string()),
        ("first_exposure_date", pa.date32()), ("planned_end_date", pa.date32()), ("is_running", pa.bool_()),
        ("variant", pa.string()), ("control_variant", pa.string()), ("primary_metric", pa.string()),
        ("estimator", pa.string()), ("control_mean", pa.float64()), ("treatment_mean", pa.float64()),
        ("effect", pa.float64()), ("relative_effect", pa.float64()), ("std_error", pa.float64()),
        ("ci_low", pa.float64()), ("ci_high", pa.float64()), ("p_value", pa.float64()),
        ("fixed_horizon_p_value", pa.float64()),
        ("msprt_p_value", pa.float64()), ("alpha", pa.float64()), ("srm_p_value", pa.float64()),
        ("srm_detected", pa.bool_()), ("n_guardrails", pa.int64()), ("n_guardrails_failed", pa.int64()),
        ("failed_guardrails", pa.string()), ("n_control", pa.int64()), ("n_treatment", pa.int64()),
        ("n_excluded_users", pa.int64()),
    ]))


# ------------------------------------------------------------------------ interleaving
def interleaving_results(requests: pa.Table, team_a_model: str, team_b_model: str,
                         alpha: float = 0.05, n_bootstrap: int = 2000, random_state=6) -> pa.Table:
    r"""``fct_interleaving_results``: one row per outcome (clicks, purchases) credited to the
    team that placed the item, from ``int_experiments__interleaved_requests``: per-request
    wins / ties / losses and preference with a user-level cluster-bootstrap interval,
    per-user preference and the user-level binomial sign test, and the mean per-request
    credit difference :math:`\bar d = \frac1n \sum_r (a_r - b_r)` over all ``n``
    interleaved requests with a user-clustered CLT interval
    (:func:`receval.metrics.uncertainty.mean_with_clt`).

    Purchases still to come: ``label_maturity`` (over the requests' clicks) and
    ``expected_share_to_come`` (1 - seen / eventual credit), and the eventual credits
    ``credit_a_corrected`` / ``credit_b_corrected`` (each converted impression weighted by
    1 / the probability its purchase has arrived, ``purchases_a_corrected`` /
    ``purchases_b_corrected``) with ``corrected_mean_credit_difference``: being linear in the
    credits, the weighted difference is unbiased for the eventual one given the delay curve
    (whose own uncertainty its interval leaves out). Wins, ties, losses and the preference
    are signs of a per-request difference, which no weighting makes unbiased: they stay on
    the purchases seen. The click row has nothing to correct (its corrected columns are
    null).
    """
    users = _col(requests, "user_id")
    out = []
    for outcome in ("clicks", "purchases"):
        a = _col(requests, f"{outcome}_a").astype(float)
        b = _col(requests, f"{outcome}_b").astype(float)
        if a.size == 0:
            continue
        res = InterleavingAnalysis(alpha=alpha, n_bootstrap=n_bootstrap, random_state=random_state) \
            .analyze(a, b, group_ids=users)
        # an outcome no request has (no purchases landed): undefined figures are null, not NaN
        figures = {k: _none_if_nan(x) for k, x in res.to_dict().items()}
        row = dict(team_a_model=team_a_model, team_b_model=team_b_model, outcome=outcome,
                   credit_a=float(a.sum()), credit_b=float(b.sum()), **figures,
                   **_credit_difference(a - b, users, alpha, ""),
                   label_maturity="mature")
        if outcome == "purchases":
            row.update(_interleaving_delay_correction(requests, a, b, users, alpha))
        out.append(row)
    return pa.Table.from_pylist(out, schema=pa.schema([
        ("team_a_model", pa.string()), ("team_b_model", pa.string()), ("outcome", pa.string()),
        ("credit_a", pa.float64()), ("credit_b", pa.float64()),
        ("n_requests", pa.int64()), ("n_requests_with_clicks", pa.int64()), ("wins", pa.int64()),
        ("ties", pa.int64()), ("losses", pa.int64()), ("preference", pa.float64()),
        ("std_error", pa.float64()), ("ci_low", pa.float64()), ("ci_high", pa.float64()),
        ("n_users", pa.int64()), ("user_wins", pa.int64()), ("user_ties", pa.int64()),
        ("user_losses", pa.int64()), ("user_preference", pa.float64()), ("p_value", pa.float64()),
        ("alpha", pa.float64()), ("n_bootstrap", pa.int64()),
        *[(f"{p}mean_credit_difference{k}", pa.float64()) for p in ("", "corrected_") for k in _DIFF_SUFFIXES],
        ("label_maturity", pa.string()), ("expected_share_to_come", pa.float64()),
        ("credit_a_corrected", pa.float64()), ("credit_b_corrected", pa.float64()),
    ]))


_DIFF_SUFFIXES = ("", "_std_error", "_ci_low", "_ci_high")


def _none_if_nan(x):
    return None if isinstance(x, float) and np.isnan(x) else x


def _credit_difference(d: np.ndarray, users: np.ndarray, alpha: float, prefix: str) -> dict:
    """The mean per-request credit difference a - b with its user-clustered CLT interval."""
    m = mean_with_clt(d, name="mean_credit_difference", group_ids=users, alpha=alpha)
    return {f"{prefix}mean_credit_difference{k}": _none_if_nan(float(x)) for k, x in
            zip(_DIFF_SUFFIXES, (m.value, m.std_error, m.ci_low, m.ci_high))}


def _interleaving_delay_correction(requests: pa.Table, a: np.ndarray, b: np.ndarray, users: np.ndarray,
                                   alpha: float) -> dict:
    """The purchases row's maturity, share to come and inverse-arrival weighted credits."""
    immature = float(_col(requests, "clicks_immature").astype(float).sum())
    clicks = float(_col(requests, "clicks_a").astype(float).sum() + _col(requests, "clicks_b").astype(float).sum())
    out = {"label_maturity": maturity_of_counts(immature, clicks)}
    a_c = _col(requests, "purchases_a_corrected").astype(float)
    b_c = _col(requests, "purchases_b_corrected").astype(float)
    if not (np.isfinite(a_c).all() and np.isfinite(b_c).all()):
        return out  # no delay curve (int_delayed__click_arrival says why)
    out["expected_share_to_come"] = share_to_come(a.sum() + b.sum(), a_c.sum() + b_c.sum())
    return {**out, "credit_a_corrected": float(a_c.sum()), "credit_b_corrected": float(b_c.sum()),
            **_credit_difference(a_c - b_c, users, alpha, "corrected_")}


# ---------------------------------------------------------------------------- bandits
def bandit_allocations(user_metrics: pa.Table, registry: pa.Table, min_share: float = 0.05,
                       n_samples: int = 20000, random_state=6, alpha: float = 0.05) -> pa.Table:
    r"""``fct_bandit_allocations``: one row per experiment x reward x variant (arm).

    Thompson sampling over each experiment's variants: Beta-Bernoulli for ``click``
    (clicked impressions / impressions) and ``purchase`` (users with a purchase / users),
    Normal for ``revenue`` (per-user revenue). Posterior, P(best) with its Monte Carlo SE,
    and the recommended allocation (each arm at least ``min_share``); the credible
    intervals have posterior probability ``1 - alpha``.

    Purchases still to come: ``label_maturity`` (over the experiment's window clicks) and
    ``expected_share_to_come`` (1 - seen / eventual) per experiment x reward. Where the
    reward is on purchases and not mature, the arm is allocated on its eventual per-user
    figures (``estimator`` ``delay_corrected``), the allocation to use, as
    ``rpt_experiment_scorecard`` decides on the corrected estimate: ``purchase`` on
    :math:`\sum` ``converted_corrected`` (the imputed eventual indicators) as fractional
    successes, a Beta posterior with fractional pseudo-counts; ``revenue`` on
    ``revenue_corrected`` (each purchase seen weighted by 1 / the probability it has
    arrived). Neither posterior carries the uncertainty of the delay curve (nor, for
    ``purchase``, of the imputation's per-click rate). Mature, or without a delay curve,
    the rows are on the figures seen (``estimator`` ``observed``).
    """
    variants = read_registry(registry).variants
    exp_col = _col(user_metrics, "experiment_id").astype(object)
    var_col = _col(user_metrics, "variant").astype(object)
    clicks, imps = _col(user_metrics, "clicks").astype(float), _col(user_metrics, "impressions").astype(float)
    conv, rev = _col(user_metrics, "converted").astype(float), _col(user_metrics, "revenue").astype(float)
    immature = _col(user_metrics, "clicks_immature").astype(float)
    eventual = {"purchase": (conv, _col(user_metrics, "converted_corrected").astype(float)),
                "revenue": (rev, _col(user_metrics, "revenue_corrected").astype(float))}
    out = []
    for exp in sorted(variants):
        names = [v["name"] for v in variants[exp]]
        masks = [(exp_col == exp) & (var_col == n) for n in names]
        if any(m.sum() < 2 for m in masks):
            continue
        ts = ThompsonSampling(min_share=min_share, n_samples=n_samples, random_state=random_state,
                              alpha=alpha)
        in_exp = np.logical_or.reduce(masks)
        n_immature, n_clicks = immature[in_exp].sum(), clicks[in_exp].sum()
        maturity = maturity_of_counts(n_immature, n_clicks)
        delay = {"click": ("mature", None, "observed")}
        values = {}
        for reward, (seen, corrected) in eventual.items():
            share, estimator, values[reward] = None, "observed", seen
            if np.isfinite(corrected[in_exp]).all():
                share = share_to_come(seen[in_exp].sum(), corrected[in_exp].sum())
                if maturity != "mature":
                    estimator, values[reward] = "delay_corrected", corrected
            delay[reward] = (maturity, share, estimator)
        allocs = {
            "click": (ts.allocate_binary([clicks[m].sum() for m in masks], [imps[m].sum() for m in masks],
                                         arms=names), "impression"),
            "purchase": (ts.allocate_binary([values["purchase"][m].sum() for m in masks],
                                            [float(m.sum()) for m in masks], arms=names), "user"),
            "revenue": (ts.allocate_normal([values["revenue"][m] for m in masks], arms=names), "user"),
        }
        for reward, (al, unit) in allocs.items():
            label_maturity, share, estimator = delay[reward]
            for i, name in enumerate(al.arms):
                post = al.posterior[i]
                p1, p2 = (post["alpha"], post["beta"]) if al.family == "beta" else (post["mean"], post["sd"])
                out.append(dict(
                    experiment_id=exp, reward=reward, variant=name, family=al.family, unit=unit,
                    n=al.n[i], posterior_param_1=float(p1), posterior_param_2=float(p2),
                    posterior_mean=al.posterior_mean[i], posterior_sd=al.posterior_sd[i],
                    credible_low=al.credible_low[i], credible_high=al.credible_high[i], alpha=al.alpha,
                    prob_best=al.prob_best[i], prob_best_std_error=al.prob_best_std_error[i],
                    allocation=al.allocation[i], min_share=al.min_share, n_samples=al.n_samples,
                    label_maturity=label_maturity, expected_share_to_come=share, estimator=estimator,
                ))
    return pa.Table.from_pylist(out, schema=pa.schema([
        ("experiment_id", pa.string()), ("reward", pa.string()), ("variant", pa.string()),
        ("family", pa.string()), ("unit", pa.string()), ("n", pa.float64()),
        ("posterior_param_1", pa.float64()), ("posterior_param_2", pa.float64()),
        ("posterior_mean", pa.float64()), ("posterior_sd", pa.float64()),
        ("credible_low", pa.float64()), ("credible_high", pa.float64()), ("alpha", pa.float64()),
        ("prob_best", pa.float64()), ("prob_best_std_error", pa.float64()),
        ("allocation", pa.float64()), ("min_share", pa.float64()), ("n_samples", pa.int64()),
        ("label_maturity", pa.string()), ("expected_share_to_come", pa.float64()), ("estimator", pa.string()),
    ]))


# --------------------------------------------------------------------------- shadow
def shadow_comparison(pairs: pa.Table, top_k: int = 5, alpha: float = 0.05) -> pa.Table:
    """``fct_shadow_comparison``: one row per challenger x production model x statistic.

    From ``int_experiments__shadow_pairs`` (one row per request x item both models
    scored), the statistics of :class:`receval.experiments.ShadowComparison` (score and
    top-K rank correlations, overlap@K, mean predicted CTR, calibration gap, P50 / P99
    latency) with ``1 - alpha`` intervals. Value columns: ``production_value``,
    ``challenger_value``, ``difference`` (challenger minus production, or the statistic
    itself for the paired statistics), ``std_error``, ``ci_low`` / ``ci_high`` (of
    ``difference``), ``n`` and ``unit``.
    """
    df = pairs.to_pandas()
    comparison = ShadowComparison(top_k=top_k, alpha=alpha)
    out = []
    for (chal, prod), g in df.groupby(["challenger_model_id", "production_model_id"], sort=True):
        stats = comparison.compare(g["request_id"], g["production_score"], g["challenger_score"],
                                   g["is_clicked"], g["production_latency_ms"], g["challenger_latency_ms"])
        out += [dict(challenger_model_id=chal, production_model_id=prod, **st.to_dict(), top_k=top_k)
                for st in stats]
    return pa.Table.from_pylist(out, schema=pa.schema([
        ("challenger_model_id", pa.string()), ("production_model_id", pa.string()), ("statistic", pa.string()),
        ("production_value", pa.float64()), ("challenger_value", pa.float64()), ("difference", pa.float64()),
        ("std_error", pa.float64()), ("ci_low", pa.float64()), ("ci_high", pa.float64()),
        ("n", pa.int64()), ("unit", pa.string()), ("top_k", pa.int64()), ("alpha", pa.float64()),
    ]))
