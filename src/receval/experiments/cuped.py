"""CUPED: variance reduction with pre-experiment data, for mean and ratio metrics."""
from __future__ import annotations

import math

import numpy as np

from receval import _validation as v
from receval.experiments._common import build_estimate, sample_var, welch_df
from receval.experiments.ratio import check_ratio_arm, ratio_linearization
from receval.experiments.results import CupedEstimate

_MISSING = ("indicator", "zero")


def _fit(lin: list[np.ndarray], Z: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, int]:
    """theta = (sum_a Z_a' Z_a)^-1 sum_a Z_a' l_a with within-arm centred columns, that
    inverse, and the number of covariates fitted.

    This is the pooled within-arm covariance of (covariates, metric) — the arms' own means
    are removed, so a treatment effect on the metric does not leak into theta. Columns with
    no variance are not fitted (theta 0, a zero row and column of the inverse); a
    rank-deficient system gets the minimum-norm solution.
    """
    k = Z[0].shape[1]
    theta, inverse = np.zeros(k), np.zeros((k, k))
    if k == 0:
        return theta, inverse, 0
    szz = sum(z.T @ z for z in Z)
    szl = sum(z.T @ l for z, l in zip(Z, lin))
    keep = np.diag(szz) > 1e-12 * max(1.0, float(np.max(np.diag(szz))))
    if keep.any():
        inverse[np.ix_(keep, keep)] = np.linalg.pinv(szz[np.ix_(keep, keep)])
        theta = inverse @ szl
    return theta, inverse, int(keep.sum())


def _design(x: np.ndarray, missing: np.ndarray, indicator: bool) -> np.ndarray:
    """The covariate (0 where missing) and, with ``indicator``, the missing indicator."""
    cols = [np.where(missing, 0.0, x)]
    if indicator:
        cols.append(missing.astype(float))
    return np.column_stack(cols)


def adjusted_arm_variances(ss_c: float, ss_t: float, n_c: int, n_t: int, theta_quad: float,
                           k: int) -> tuple[float, float, float]:
    r"""Variances of the two adjusted arm means and the Welch-Satterthwaite df, with
    theta estimated from the same users (the docstring of :class:`CUPED`).

    ``ss_a`` is arm a's residual sum of squares, ``theta_quad`` the quadratic form
    :math:`\Delta S^\top (\sum \tilde Z^\top \tilde Z)^{-1} \Delta S` of the arms'
    covariate difference and ``k`` the number of covariates fitted; scalars, or arrays of
    replicates (receval.experiments.placebo).
    """
    n = n_c + n_t
    if np.any(n - 2 - k <= 0):
        raise ValueError(f"CUPED needs more users than 2 + the covariates fitted ({k}), got {n}")
    dof_c, dof_t = n_c - 1 - k * n_c / n, n_t - 1 - k * n_t / n
    theta_var = (ss_c + ss_t) / (n - 2 - k) * theta_quad
    var_c = ss_c / (n_c * dof_c) + theta_var * n_t / n
    var_t = ss_t / (n_t * dof_t) + theta_var * n_c / n
    return var_c, var_t, welch_df(var_c, var_t, dof_c, dof_t)


def _adjusted(parts, S_pool: np.ndarray):
    """Per arm (statistic, influence values, covariate statistics S, centred covariate
    influence values Z): the adjusted arm estimates, their variances, the df and theta."""
    (stat_c, lc, Sc, Zc), (stat_t, lt, St, Zt) = parts
    theta, inverse, k = _fit([lc, lt], [Zc, Zt])
    ss_c, ss_t = (float(np.sum((lin - Z @ theta) ** 2)) for lin, Z in ((lc, Zc), (lt, Zt)))
    dS = St - Sc
    var_c, var_t, df = adjusted_arm_variances(ss_c, ss_t, lc.size, lt.size, float(dS @ inverse @ dS), k)
    return (float(stat_c - (Sc - S_pool) @ theta), float(stat_t - (St - S_pool) @ theta),
            float(var_c), float(var_t), df, theta)


class CUPED:
    r"""CUPED (Controlled-experiment Using Pre-Experiment Data) for mean and ratio metrics.

    For a mean metric :math:`Y` with pre-period covariate :math:`X` (usually the same
    metric measured on the same users before the experiment),

    .. math::

        \hat\Delta_{cv} = (\bar Y_T - \bar Y_C) - \theta^\top(\bar X_T - \bar X_C),\qquad
        \theta = \Big(\sum_a \sum_{i\in a} \tilde X_i \tilde X_i^\top\Big)^{-1}
                 \sum_a \sum_{i \in a} \tilde X_i \tilde Y_i ,

    where :math:`\tilde{\cdot}` is centred on its own arm's mean, i.e. :math:`\theta` is
    estimated from the covariance pooled across arms (the within-arm covariance, so the
    treatment effect on :math:`Y` does not bias it). Each arm's value is reported as
    :math:`\bar Y_a - \theta^\top(\bar X_a - \bar X)` with :math:`\bar X` the pooled mean.

    The standard error counts theta as estimated from the same users, which matters on
    small arms (on ~30 users per arm, a theta taken as known understates the SE by ~3%).
    With residuals :math:`e_i = \tilde Y_i - \theta^\top \tilde X_i`, :math:`k` covariates
    fitted and :math:`n = n_C + n_T`, each arm's residual variance is taken with its share
    of the regression's residual degrees of freedom, :math:`d_a = n_a - 1 - k n_a / n`, and
    the variance theta's error adds, :math:`\hat\sigma^2 \Delta X^\top (\sum \tilde X
    \tilde X^\top)^{-1} \Delta X` with :math:`\hat\sigma^2 = \sum e_i^2 / (n - 2 - k)` and
    :math:`\Delta X = \bar X_T - \bar X_C`, is shared between the arms in proportion to how
    far each arm's mean lies from the pooled one (:math:`n_C / n` to treatment):

    .. math::

        SE^2 = \frac{\sum_{C} e_i^2}{n_C d_C} + \frac{\sum_{T} e_i^2}{n_T d_T}
               + \hat\sigma^2 \Delta X^\top \Big(\sum \tilde X \tilde X^\top\Big)^{-1} \Delta X,

    referred to a t distribution with the Welch-Satterthwaite df of the two arm variances
    (each with :math:`d_a` df). Without covariates this is Welch's test; with equal arms it
    equals the classical OLS standard error of :math:`T` in :math:`Y \sim 1 + T + X`
    exactly, whatever the arms' variances (tests); with unequal arms and unequal variances
    it keeps Welch's robustness. The point estimate is that regression's treatment
    coefficient (Frisch-Waugh-Lovell). The achieved variance reduction
    :math:`1 - SE^2_{cv}/SE^2` (against the unadjusted SE) approaches :math:`\rho^2`, the
    squared metric-covariate correlation, for a single covariate.

    Users without pre-period activity (``NaN`` covariate for mean metrics, zero
    pre-period denominator for ratio metrics) are handled by ``missing``:

    * ``"indicator"`` (default): the covariate is set to 0 and a no-pre-period indicator is
      added as a second covariate, so those users get their own intercept — equivalent
      to a separate adjustment for new users;
    * ``"zero"``: the covariate is set to 0, no indicator.

    For ratio metrics :math:`R = \bar x / \bar y` the same formulas are applied to the
    delta-method linearisations :math:`l_i = (x_i - R y_i)/\bar y` of the metric and of
    the pre-period ratio (Deng et al. 2018, section 4.2); the arm statistic adjusted is
    the pre-period ratio :math:`R^{pre}_a`, centred on the pooled pre-period ratio
    (:math:`\Delta X = R^{pre}_T - R^{pre}_C`).

    Parameters
    ----------
    alpha : float, default 0.05
        Significance level in (0, 1).
    missing : {"indicator", "zero"}, default "indicator"
        How users without pre-period activity are adjusted.

    References
    ----------
    Deng, A., Xu, Y., Kohavi, R., Walker, T. (2013). Improving the Sensitivity of Online
    Controlled Experiments by Utilizing Pre-Experiment Data. WSDM 2013.
    Deng, A., Knoblich, U., Lu, J. (2018). Applying the Delta Method in Metric Analytics:
    A Practical Guide with Novel Ideas. KDD 2018.
    """

    def __init__(self, alpha: float = 0.05, missing: str = "indicator") -> None:
        self.alpha = v.check_alpha(alpha)
        if missing not in _MISSING:
            raise ValueError(f"`missing` must be one of {_MISSING}, got {missing!r}")
        self.missing = missing

    def __repr__(self) -> str:
        return f"CUPED(alpha={self.alpha}, missing={self.missing!r})"

    # ------------------------------------------------------------------ mean metrics
    def estimate_effect(
        self,
        control,
        treatment,
        control_covariate,
        treatment_covariate,
        metric: str = "metric",
    ) -> CupedEstimate:
        """CUPED-adjusted effect on a per-user mean metric.

        Parameters
        ----------
        control, treatment : array-like of float
            Experiment-period metric per user (no NaN).
        control_covariate, treatment_covariate : array-like of float
            Pre-period covariate per user, aligned with the metric arrays; NaN/null marks
            a user without pre-period activity.
        metric : str
            Label carried into the result.
        """
        yc = v.check_finite(control, "control", min_size=2)
        yt = v.check_finite(treatment, "treatment", min_size=2)
        xc = v.check_finite(control_covariate, "control_covariate", min_size=2, allow_nan=True)
        xt = v.check_finite(treatment_covariate, "treatment_covariate", min_size=2, allow_nan=True)
        v.check_lengths(control=yc, control_covariate=xc)
        v.check_lengths(treatment=yt, treatment_covariate=xt)
        mc, mt = np.isnan(xc), np.isnan(xt)
        n_missing = int(mc.sum() + mt.sum())
        use_ind = self.missing == "indicator" and n_missing > 0
        Xc, Xt = _design(xc, mc, use_ind), _design(xt, mt, use_ind)
        Sc, St = Xc.mean(axis=0), Xt.mean(axis=0)
        S_pool = np.vstack([Xc, Xt]).mean(axis=0)
        lc, lt = yc - yc.mean(), yt - yt.mean()
        Zc, Zt = Xc - Sc, Xt - St
        adjusted = _adjusted([(yc.mean(), lc, Sc, Zc), (yt.mean(), lt, St, Zt)], S_pool)
        raw_vc, raw_vt = sample_var(yc) / yc.size, sample_var(yt) / yt.size
        return self._finish(
            metric, "cuped_mean", *adjusted, yc.size, yt.size,
            float(yt.mean() - yc.mean()), raw_vc + raw_vt, n_missing,
        )

    # ------------------------------------------------------------------ ratio metrics
    def estimate_ratio_effect(
        self,
        control_numerator,
        control_denominator,
        treatment_numerator,
        treatment_denominator,
        control_pre_numerator,
        control_pre_denominator,
        treatment_pre_numerator,
        treatment_pre_denominator,
        metric: str = "ratio",
    ) -> CupedEstimate:
        """CUPED-adjusted effect on a ratio metric (e.g. CTR) with a pre-period ratio covariate.

        Parameters
        ----------
        control_numerator, control_denominator, treatment_numerator, treatment_denominator
            Experiment-period per-user numerator and denominator (as in
            :meth:`RatioMetric.estimate_effect`).
        control_pre_numerator, control_pre_denominator, treatment_pre_numerator, treatment_pre_denominator
            Pre-period per-user numerator and denominator, aligned with the above. A zero
            (or NaN) pre-period denominator marks a user without pre-period activity; each
            arm needs a positive pre-period denominator sum.
        metric : str
            Label carried into the result.
        """
        xc, yc = check_ratio_arm(control_numerator, control_denominator, "control")
        xt, yt = check_ratio_arm(treatment_numerator, treatment_denominator, "treatment")
        pre = {}
        for arm, num, den, n in (
            ("control", control_pre_numerator, control_pre_denominator, xc.size),
            ("treatment", treatment_pre_numerator, treatment_pre_denominator, xt.size),
        ):
            pn = v.check_finite(num, f"{arm}_pre_numerator", allow_nan=True)
            pd_ = v.check_finite(den, f"{arm}_pre_denominator", allow_nan=True, nonnegative=True)
            v.check_lengths(**{f"{arm}_pre_numerator": pn, f"{arm}_pre_denominator": pd_})
            if pn.size != n:
                raise ValueError(
                    f"`{arm}_pre_numerator` must have one value per user of the {arm} arm "
                    f"({n}), got {pn.size}"
                )
            miss = np.isnan(pd_) | np.isnan(pn) | (np.nan_to_num(pd_) == 0)
            pn, pd_ = np.where(miss, 0.0, pn), np.where(miss, 0.0, pd_)
            if pd_.sum() <= 0:
                raise ValueError(
                    f"`{arm}_pre_denominator` sums to 0: no {arm} user has pre-period "
                    "activity, so the pre-period ratio is undefined"
                )
            pre[arm] = (pn, pd_, miss)
        n_missing = int(pre["control"][2].sum() + pre["treatment"][2].sum())
        use_ind = self.missing == "indicator" and n_missing > 0
        r_pool_pre = (pre["control"][0].sum() + pre["treatment"][0].sum()) / (
            pre["control"][1].sum() + pre["treatment"][1].sum()
        )
        ind_pool = n_missing / (xc.size + xt.size)
        parts = {}
        for arm, x, y in (("control", xc, yc), ("treatment", xt, yt)):
            pn, pd_, miss = pre[arm]
            r, lin = ratio_linearization(x, y)
            r_pre, lin_pre = ratio_linearization(pn, pd_)
            S, Z = [r_pre], [lin_pre]
            if use_ind:
                S.append(miss.mean())
                Z.append(miss - miss.mean())
            parts[arm] = (r, lin, np.array(S), np.column_stack(Z))
        S_pool = np.array([r_pool_pre, ind_pool][: 2 if use_ind else 1])
        adjusted = _adjusted([parts["control"], parts["treatment"]], S_pool)
        raw = sample_var(parts["control"][1]) / xc.size + sample_var(parts["treatment"][1]) / xt.size
        return self._finish(
            metric, "cuped_ratio", *adjusted, xc.size, xt.size,
            float(parts["treatment"][0] - parts["control"][0]), raw, n_missing,
        )

    def _finish(self, metric, method, ac, at, var_c, var_t, df, theta, nc, nt, raw_effect,
                raw_var, n_missing) -> CupedEstimate:
        adj_var = var_c + var_t
        return build_estimate(
            metric=metric, method=method, mean_c=ac, mean_t=at, var_c=var_c, var_t=var_t,
            n_c=nc, n_t=nt, alpha=self.alpha, df=df, cls=CupedEstimate,
            theta=tuple(float(t) for t in theta),
            variance_reduction=float(1.0 - adj_var / raw_var) if raw_var > 0 else math.nan,
            unadjusted_effect=raw_effect,
            unadjusted_std_error=float(math.sqrt(raw_var)),
            n_without_pre_period=n_missing,
        )


def _corr(x: np.ndarray, y: np.ndarray) -> float:
    if x.size < 3 or np.std(x) == 0 or np.std(y) == 0:
        return math.nan
    return float(np.corrcoef(x, y)[0, 1])


def _within_r2(ys: list[np.ndarray], xs: list[np.ndarray]) -> float:
    y = np.concatenate([a - a.mean() for a in ys])
    x = np.vstack([b - b.mean(axis=0) for b in xs])
    if y.size < 3 or np.allclose(x, 0):
        return math.nan
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    return float(1.0 - np.sum((y - x @ beta) ** 2) / np.sum(y**2))


def pre_post_fit(metric: list[np.ndarray], covariate: list[np.ndarray],
                 missing: list[np.ndarray]) -> tuple[float, float]:
    r"""How much CUPED can gain: the within-arm pre/post correlation and the attainable
    :math:`\rho^2`.

    Per arm :math:`a`, ``metric[a]`` holds each user's (linearised) experiment-period value
    :math:`y_i`, ``covariate[a]`` the pre-period value :math:`x_i` (0 where
    ``missing[a]``: no pre-period activity). With values centred on their own arm's mean
    (:math:`\tilde\cdot`),

    - ``correlation`` :math:`= \operatorname{corr}(\tilde y, \tilde x)` over the users
      with a pre-period (``nan`` with 2 or fewer of them in an arm);
    - ``r_squared`` :math:`= 1 - \lVert \tilde y - \tilde X\hat\beta \rVert^2 / \lVert
      \tilde y \rVert^2`, the least-squares fit of :math:`\tilde y` on the design
      :math:`X = [x, 1_{missing}]` (the indicator only when some user lacks a pre-period),
      all users pooled across arms. CUPED's variance reduction approaches it.

    References
    ----------
    Deng, A., Xu, Y., Kohavi, R., Walker, T. (2013). Improving the Sensitivity of Online
    Controlled Experiments by Utilizing Pre-Experiment Data. WSDM 2013 (section 3).
    """
    has = [~m for m in missing]
    if has[0].sum() > 2 and has[1].sum() > 2:
        rho = _corr(np.concatenate([y[h] - y[h].mean() for y, h in zip(metric, has)]),
                    np.concatenate([x[h] - x[h].mean() for x, h in zip(covariate, has)]))
    else:
        rho = math.nan
    any_missing = bool(missing[0].any() or missing[1].any())
    design = [_design(x, m, bool(m.any())) if any_missing else x[:, None]
              for x, m in zip(covariate, missing)]
    return rho, _within_r2(metric, design)
