"""The analysis of one registry metric of one experiment: which estimators a metric kind
takes (Welch or the delta method; CUPED on the pre-period covariate), how much CUPED can
gain, and the always-valid mSPRT over daily looks.

The inputs are per-user columns of one arm each (``{column: array}``, from
``fct_experiment_user_metrics``), named by a :class:`~receval.experiments.registry.MetricSpec`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from receval.experiments.cuped import CUPED, pre_post_fit
from receval.experiments.means import DifferenceInMeans
from receval.experiments.ratio import RatioMetric, ratio_linearization
from receval.experiments.registry import MetricSpec
from receval.experiments.results import CupedEstimate, EffectEstimate, SequentialResult
from receval.experiments.sequential import MixtureSPRT

__all__ = ["MetricAnalysis", "analyze_metric", "cuped_effect"]

Arm = dict[str, np.ndarray]


@dataclass(frozen=True)
class MetricAnalysis:
    """Raw and CUPED estimates of one metric, CUPED's attainable gain, and the mSPRT.

    ``pre_post_correlation`` / ``pre_post_r_squared``: see
    :func:`receval.experiments.cuped.pre_post_fit`. ``sequential`` is ``None`` when no daily
    look had two users with a positive standard error in each arm; ``mixing_variance`` is
    the mSPRT's :math:`\\tau^2`.
    """

    raw: EffectEstimate
    cuped: CupedEstimate
    pre_post_correlation: float
    pre_post_r_squared: float
    sequential: SequentialResult | None
    mixing_variance: float


def _split(arm: Arm, mask: np.ndarray) -> Arm:
    return {k: a[mask] for k, a in arm.items()}


def _effect(spec: MetricSpec, name: str | None, c: Arm, t: Arm, alpha: float) -> EffectEstimate:
    """The raw effect: the delta method for a ratio metric, Welch for a mean metric."""
    label = {} if name is None else {"metric": name}
    if spec.kind == "ratio":
        return RatioMetric(alpha).estimate_effect(
            c[spec.column], c[spec.denominator], t[spec.column], t[spec.denominator], **label)
    return DifferenceInMeans(alpha).estimate_effect(c[spec.column], t[spec.column], **label)


def _cuped(spec: MetricSpec, name: str, c: Arm, t: Arm, alpha: float):
    """The CUPED estimate and, per arm, the (linearised) metric, covariate and missing mask."""
    if spec.kind == "ratio":
        cuped = CUPED(alpha).estimate_ratio_effect(
            c[spec.column], c[spec.denominator], t[spec.column], t[spec.denominator],
            c[spec.pre_column], c[spec.pre_denominator], t[spec.pre_column], t[spec.pre_denominator],
            metric=name)
        lin, pre_lin, miss = [], [], []
        for arm in (c, t):
            _, li = ratio_linearization(arm[spec.column], arm[spec.denominator])
            m = arm[spec.pre_denominator] <= 0
            pn, pd_ = np.where(m, 0.0, arm[spec.pre_column]), np.where(m, 0.0, arm[spec.pre_denominator])
            _, pl = ratio_linearization(pn, pd_)
            lin.append(li), pre_lin.append(pl), miss.append(m)
        return cuped, lin, pre_lin, miss
    cov_c = np.where(c["has_pre_period"], c[spec.pre_column], np.nan)
    cov_t = np.where(t["has_pre_period"], t[spec.pre_column], np.nan)
    cuped = CUPED(alpha).estimate_effect(c[spec.column], t[spec.column], cov_c, cov_t, metric=name)
    lin = [c[spec.column].astype(float), t[spec.column].astype(float)]
    miss = [~c["has_pre_period"], ~t["has_pre_period"]]
    pre_lin = [np.where(m, 0.0, a[spec.pre_column]) for m, a in zip(miss, (c, t))]
    return cuped, lin, pre_lin, miss


def _msprt(spec: MetricSpec, c: Arm, t: Arm, alpha: float, relative_effect: float):
    """mSPRT with daily looks: cumulative users by first-exposure day, each at its full window.

    The mixing sd is ``relative_effect`` x the metric's pre-period value pooled over both
    arms (known before the experiment starts), so it is fixed in advance.
    """
    days = np.unique(np.concatenate([c["first_exposure_day"], t["first_exposure_day"]]))
    if spec.kind == "ratio":
        den = c[spec.pre_denominator].sum() + t[spec.pre_denominator].sum()
        pre_value = (c[spec.pre_column].sum() + t[spec.pre_column].sum()) / den if den > 0 else math.nan
    else:
        pre = np.concatenate([c[spec.pre_column][c["has_pre_period"]], t[spec.pre_column][t["has_pre_period"]]])
        pre_value = float(pre.mean()) if pre.size else math.nan
    if not np.isfinite(pre_value) or pre_value == 0:
        # No usable pre-period: fall back to the pooled control-arm value of the first look.
        pre_value = float(np.mean(c[spec.column])) or 1.0
    tau2 = (relative_effect * abs(pre_value)) ** 2
    effects, ses, ncs, nts = [], [], [], []
    for d in days:
        mc, mt = c["first_exposure_day"] <= d, t["first_exposure_day"] <= d
        if mc.sum() < 2 or mt.sum() < 2:
            continue
        try:
            e = _effect(spec, None, _split(c, mc), _split(t, mt), alpha)
        except ValueError:
            continue
        if not (e.std_error > 0):
            continue
        effects.append(e.effect), ses.append(e.std_error), ncs.append(e.n_control), nts.append(e.n_treatment)
    if not effects:
        return None, tau2
    return MixtureSPRT(mixing_variance=tau2, alpha=alpha).test_summary(effects, ses, ncs, nts), tau2


def analyze_metric(spec: MetricSpec, name: str, control: Arm, treatment: Arm, alpha: float,
                   msprt_relative_effect: float = 0.05) -> MetricAnalysis:
    """Every figure of ``fct_experiment_results`` for one metric, treatment vs control.

    Parameters
    ----------
    spec : MetricSpec
        The metric's columns and kind.
    name : str
        The registry name, carried into the estimates.
    control, treatment : dict of str -> numpy.ndarray
        Per-user columns of each arm: the spec's columns, ``has_pre_period`` (bool) and
        ``first_exposure_day`` (int, days since the epoch).
    alpha : float
        Significance level of the tests and intervals.
    msprt_relative_effect : float
        mSPRT mixing sd as a fraction of the metric's pre-period value.
    """
    raw = _effect(spec, name, control, treatment, alpha)
    cuped, lin, pre_lin, miss = _cuped(spec, name, control, treatment, alpha)
    rho, r2 = pre_post_fit(lin, pre_lin, miss)
    seq, tau2 = _msprt(spec, control, treatment, alpha, msprt_relative_effect)
    return MetricAnalysis(raw, cuped, rho, r2, seq, tau2)


def cuped_effect(spec: MetricSpec, name: str, control: Arm, treatment: Arm, alpha: float) -> CupedEstimate:
    """The CUPED estimate alone (as in :func:`analyze_metric`), for a metric whose column has
    been swapped, e.g. for its delay-corrected column."""
    return _cuped(spec, name, control, treatment, alpha)[0]
