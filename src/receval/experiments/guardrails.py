"""Guardrail non-inferiority tests: a mean metric (error rate) and a quantile (P99 latency)."""
from __future__ import annotations

import math

import numpy as np
from scipy import stats

from receval import _validation as v
from receval.experiments._common import (
    order_statistic_interval, relative_se, sample_var, welch_df, z_critical,
)
from receval.experiments.results import NonInferiorityResult

_QUANTILE_METHODS = ("order_statistic", "bootstrap")


class _NonInferiorityBase:
    def __init__(self, margin: float, alpha: float, relative_margin: bool, lower_is_better: bool):
        self.margin = v.check_positive(margin, "margin", allow_zero=True)
        self.alpha = v.check_alpha(alpha)
        if not isinstance(relative_margin, bool):
            raise ValueError(f"`relative_margin` must be a bool, got {relative_margin!r}")
        if not isinstance(lower_is_better, bool):
            raise ValueError(f"`lower_is_better` must be a bool, got {lower_is_better!r}")
        self.relative_margin = relative_margin
        self.lower_is_better = lower_is_better

    def _signed(self, effect: float) -> float:
        """Effect oriented so that positive means 'treatment is worse'."""
        return effect if self.lower_is_better else -effect

    def _result(self, metric, method, cv, tv, effect, se, df, nc, nt) -> NonInferiorityResult:
        dist = stats.norm if math.isinf(df) else stats.t(df)
        q = float(dist.ppf(1.0 - self.alpha))
        worse = self._signed(effect)
        if se > 0:
            p = float(dist.cdf((worse - self.margin) / se))
        else:
            p = 0.0 if worse < self.margin else 1.0
        return NonInferiorityResult(
            metric=metric, method=method, control_value=float(cv), treatment_value=float(tv),
            effect=float(effect), std_error=float(se), ci_low=float(effect - q * se),
            ci_high=float(effect + q * se), margin=self.margin,
            relative_margin=self.relative_margin, lower_is_better=self.lower_is_better,
            p_value=p, non_inferior=bool(p < self.alpha), n_control=int(nc),
            n_treatment=int(nt), alpha=self.alpha,
        )


class MeanNonInferiority(_NonInferiorityBase):
    r"""Non-inferiority test of a mean guardrail metric (e.g. error rate per user).

    With :math:`\Delta = \bar y_T - \bar y_C` (or :math:`\bar y_T/\bar y_C - 1` when the
    margin is relative) oriented so that positive is worse, and margin :math:`\delta \ge 0`:

    .. math::

        H_0: \Delta \ge \delta \quad\text{vs}\quad H_1: \Delta < \delta,\qquad
        p = F\!\left(\frac{\hat\Delta - \delta}{\widehat{SE}}\right),

    with the Welch SE and t distribution (normal and delta-method SE for a relative
    margin). The guardrail passes (``non_inferior``) when :math:`p < \alpha`, i.e. when
    the one-sided :math:`1-\alpha` upper bound of :math:`\Delta` lies below the margin.

    Parameters
    ----------
    margin : float
        Largest tolerated degradation, >= 0, in metric units (or as a fraction of the
        control value when ``relative_margin``).
    alpha : float, default 0.05
        One-sided significance level in (0, 1).
    relative_margin : bool, default False
    lower_is_better : bool, default True
        True for error rates and latencies; False for e.g. revenue (then the margin is the
        tolerated drop).

    References
    ----------
    Schuirmann, D. J. (1987). A comparison of the two one-sided tests procedure and the
    power approach for assessing the equivalence of average bioavailability. J.
    Pharmacokinetics and Biopharmaceutics 15, 657-680.
    Kohavi, R., Tang, D., Xu, Y. (2020). Trustworthy Online Controlled Experiments, ch. 21.
    """

    def __init__(self, margin: float, alpha: float = 0.05, relative_margin: bool = False,
                 lower_is_better: bool = True) -> None:
        super().__init__(margin, alpha, relative_margin, lower_is_better)

    def __repr__(self) -> str:
        return (f"MeanNonInferiority(margin={self.margin}, alpha={self.alpha}, "
                f"relative_margin={self.relative_margin}, lower_is_better={self.lower_is_better})")

    def test(self, control, treatment, metric: str = "guardrail") -> NonInferiorityResult:
        """Test one guardrail on per-user values of each arm (no NaN, >= 2 users per arm)."""
        c = v.check_finite(control, "control", min_size=2)
        t = v.check_finite(treatment, "treatment", min_size=2)
        mc, mt = float(c.mean()), float(t.mean())
        vc, vt = sample_var(c) / c.size, sample_var(t) / t.size
        if self.relative_margin:
            if mc == 0:
                raise ValueError("a relative margin needs a non-zero control mean")
            effect, se, df = mt / mc - 1.0, relative_se(mc, mt, vc, vt), math.inf
        else:
            effect, se, df = mt - mc, math.sqrt(vc + vt), welch_df(vc, vt, c.size - 1, t.size - 1)
        return self._result(metric, "welch" if not self.relative_margin else "delta_method",
                            mc, mt, effect, se, df, c.size, t.size)


class QuantileNonInferiority(_NonInferiorityBase):
    r"""Non-inferiority test of a quantile (e.g. P99 latency) between arms.

    The quantile difference :math:`\hat\Delta = \hat q_T - \hat q_C` (or
    :math:`\hat q_T/\hat q_C - 1`) is compared with the margin exactly as in
    :class:`MeanNonInferiority`. Its uncertainty comes from one of:

    * ``"order_statistic"`` (default, O(n log n)): per arm, the distribution-free
      two-sided :math:`1-\alpha` interval of the quantile is :math:`[x_{(l)}, x_{(u)}]` with
      :math:`l, u = nq \mp z_{1-\alpha/2}\sqrt{nq(1-q)}` (binomial ranks, normal
      approximation), so :math:`\widehat{SE}(\hat q) = (x_{(u)} - x_{(l)}) / (2 z_{1-\alpha/2})`
      (:func:`receval.experiments._common.order_statistic_interval`); the arms are
      independent, so :math:`SE^2 = SE_T^2 + SE_C^2` with a normal reference. This is the
      order-statistic form of the delta method for quantiles (Deng, Knoblich & Lu 2018,
      section 3.3).
    * ``"bootstrap"``: each arm is resampled independently ``n_bootstrap`` times; the
      interval is the percentile interval of the bootstrap differences, the SE their
      standard deviation and the p-value the share of replicates at or beyond the margin.

    Both assume independent observations. Latency is logged per request while the user is
    randomised; pass one value per user (e.g. each user's own P99) or accept that heavy
    users' correlated requests make the interval somewhat too narrow.

    Parameters
    ----------
    margin : float
        Largest tolerated degradation (>= 0), in metric units or relative.
    quantile : float, default 0.99
        Quantile in (0, 1).
    alpha : float, default 0.05
        One-sided level in (0, 1).
    relative_margin, lower_is_better : bool
        As in :class:`MeanNonInferiority`.
    method : {"order_statistic", "bootstrap"}
    n_bootstrap : int, default 2000
        Bootstrap replicates (>= 100), bootstrap only.
    random_state : int, Generator or None
        Seed of the bootstrap.

    References
    ----------
    Deng, A., Knoblich, U., Lu, J. (2018). Applying the Delta Method in Metric Analytics:
    A Practical Guide with Novel Ideas. KDD 2018.
    Efron, B., Tibshirani, R. (1993). An Introduction to the Bootstrap, ch. 13.
    """

    def __init__(self, margin: float, quantile: float = 0.99, alpha: float = 0.05,
                 relative_margin: bool = False, lower_is_better: bool = True,
                 method: str = "order_statistic", n_bootstrap: int = 2000,
                 random_state=None) -> None:
        super().__init__(margin, alpha, relative_margin, lower_is_better)
        self.quantile = v.check_alpha(quantile, "quantile")
        if method not in _QUANTILE_METHODS:
            raise ValueError(f"`method` must be one of {_QUANTILE_METHODS}, got {method!r}")
        self.method = method
        self.n_bootstrap = v.check_int(n_bootstrap, "n_bootstrap", minimum=100)
        self.random_state = random_state
        v.check_random_state(random_state)  # validates the type only

    def __repr__(self) -> str:
        return (f"QuantileNonInferiority(margin={self.margin}, quantile={self.quantile}, "
                f"alpha={self.alpha}, method={self.method!r})")

    def _order_stat_se(self, x: np.ndarray) -> float:
        lo, hi = order_statistic_interval(x, self.quantile, self.alpha)
        return (hi - lo) / (2 * z_critical(self.alpha))

    def _stat(self, qc, qt):
        return qt / qc - 1.0 if self.relative_margin else qt - qc

    def test(self, control, treatment, metric: str = "p99") -> NonInferiorityResult:
        """Test the quantile guardrail on per-observation values of each arm (no NaN)."""
        min_n = max(2, math.ceil(1.0 / min(self.quantile, 1 - self.quantile)))
        c = np.sort(v.check_finite(control, "control", min_size=min_n))
        t = np.sort(v.check_finite(treatment, "treatment", min_size=min_n))
        qc, qt = float(np.quantile(c, self.quantile)), float(np.quantile(t, self.quantile))
        if self.relative_margin and qc == 0:
            raise ValueError("a relative margin needs a non-zero control quantile")
        effect = self._stat(qc, qt)
        if self.method == "order_statistic":
            sc, st = self._order_stat_se(c), self._order_stat_se(t)
            se = relative_se(qc, qt, sc**2, st**2) if self.relative_margin else math.hypot(sc, st)
            return self._result(metric, "order_statistic", qc, qt, effect, se, math.inf,
                                c.size, t.size)
        rng = v.check_random_state(self.random_state)
        boots = np.empty(self.n_bootstrap)
        chunk = max(1, int(2e7 // max(c.size, t.size)))
        for s in range(0, self.n_bootstrap, chunk):
            b = min(chunk, self.n_bootstrap - s)
            bc = np.quantile(c[rng.integers(0, c.size, (b, c.size))], self.quantile, axis=1)
            bt = np.quantile(t[rng.integers(0, t.size, (b, t.size))], self.quantile, axis=1)
            boots[s:s + b] = self._stat(bc, bt)
        worse = boots if self.lower_is_better else -boots
        p = float((1 + np.sum(worse >= self.margin)) / (self.n_bootstrap + 1))
        lo, hi = np.quantile(boots, [self.alpha, 1 - self.alpha])
        return NonInferiorityResult(
            metric=metric, method="bootstrap", control_value=qc, treatment_value=qt,
            effect=float(effect), std_error=float(np.std(boots, ddof=1)), ci_low=float(lo),
            ci_high=float(hi), margin=self.margin, relative_margin=self.relative_margin,
            lower_is_better=self.lower_is_better, p_value=p, non_inferior=bool(p < self.alpha),
            n_control=c.size, n_treatment=t.size, alpha=self.alpha,
        )
