import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats.weightstats import ttest_ind

from receval.experiments import CUPED, CupedEstimate, difference_in_means


def _data(rng, n, rho=0.7, effect=0.1):
    x = rng.normal(10, 2, 2 * n)
    y = 5 + rho * (x - 10) / 2 + np.sqrt(1 - rho**2) * rng.normal(size=2 * n)
    y[n:] += effect
    return y[:n], y[n:], x[:n], x[n:]


def _ols(y, cols, cov_type="HC2"):
    X = sm.add_constant(np.column_stack(cols))
    return sm.OLS(y, X).fit(cov_type=cov_type)


def test_point_estimate_equals_ols_ancova():
    rng = np.random.default_rng(0)
    yc, yt, xc, xt = _data(rng, 3000)
    res = CUPED().estimate_effect(yc, yt, xc, xt)
    y, x = np.r_[yc, yt], np.r_[xc, xt]
    T = np.r_[np.zeros(yc.size), np.ones(yt.size)]
    fit = _ols(y, [T, x - x.mean()])
    assert res.effect == pytest.approx(fit.params[1], abs=1e-6)
    assert res.theta[0] == pytest.approx(fit.params[2], abs=1e-6)
    # adjusted arm means are the regression's fitted arm means at the pooled covariate mean
    assert res.control_mean == pytest.approx(fit.params[0], abs=1e-6)
    # SE: with equal arms, exactly the classical OLS SE of T in y ~ 1 + T + x (theta
    # estimated), although the arms' variances differ here (the effect shifts only the mean)
    assert yc.size == yt.size
    classical = _ols(y, [T, x - x.mean()], cov_type="nonrobust")
    assert res.std_error == pytest.approx(classical.bse[1], rel=1e-9)
    assert res.df <= y.size - 3
    assert res.p_value == pytest.approx(2 * stats.t.sf(abs(res.effect / res.std_error), res.df), rel=1e-9)


def test_se_with_unequal_arms_is_welch_plus_thetas_error():
    rng = np.random.default_rng(6)
    yc, yt, xc, xt = _data(rng, 700)
    yc, xc = yc[:200], xc[:200]
    yt = yt + rng.normal(0, 1.5, yt.size)  # treatment noisier: unequal variances
    res = CUPED().estimate_effect(yc, yt, xc, xt)
    # by hand: residuals on the pooled within-arm theta, each arm's share of the n - 3 df,
    # theta's error sigma^2 dX^2 / Sxx shared n_c / n to treatment
    n, (nc, nt) = yc.size + yt.size, (yc.size, yt.size)
    zc, zt, lc, lt = xc - xc.mean(), xt - xt.mean(), yc - yc.mean(), yt - yt.mean()
    sxx = zc @ zc + zt @ zt
    theta = (zc @ lc + zt @ lt) / sxx
    ssc, sst = np.sum((lc - theta * zc) ** 2), np.sum((lt - theta * zt) ** 2)
    theta_var = (ssc + sst) / (n - 3) * (xt.mean() - xc.mean()) ** 2 / sxx
    dc, dt = nc - 1 - nc / n, nt - 1 - nt / n
    vc, vt = ssc / (nc * dc) + theta_var * nt / n, sst / (nt * dt) + theta_var * nc / n
    assert res.theta[0] == pytest.approx(theta, rel=1e-12)
    assert res.std_error == pytest.approx(np.sqrt(vc + vt), rel=1e-12)
    assert res.df == pytest.approx((vc + vt) ** 2 / (vc**2 / dc + vt**2 / dt), rel=1e-12)
    # an uninformative (constant) covariate is not fitted: exactly Welch's test
    flat = CUPED().estimate_effect(yc, yt, np.ones(nc), np.ones(nt))
    tstat, p, df = ttest_ind(yt, yc, usevar="unequal")
    assert flat.std_error == pytest.approx((yt.mean() - yc.mean()) / tstat, rel=1e-12)
    assert (flat.p_value, flat.df) == pytest.approx((p, df), rel=1e-9)


def test_small_arms_aa_rejection_rate():
    # 12 users per arm, normal data, rho 0.7: 10,000 A/A replications reject at 5% within 3
    # binomial SE (0.0065). Treating theta as known (SE from the residuals with n - 1 df)
    # rejects more often on the same draws (6.3% over 20,000).
    rng = np.random.default_rng(7)
    reps, n = 10_000, 12
    rejected = known = 0
    for _ in range(reps):
        yc, yt, xc, xt = _data(rng, n, effect=0.0)
        res = CUPED().estimate_effect(yc, yt, xc, xt)
        rejected += res.p_value < 0.05
        lc = yc - yc.mean() - res.theta[0] * (xc - xc.mean())
        lt = yt - yt.mean() - res.theta[0] * (xt - xt.mean())
        se_known = np.sqrt(np.var(lc, ddof=1) / n + np.var(lt, ddof=1) / n)
        known += 2 * stats.t.sf(abs(res.effect / se_known), 2 * n - 2) < 0.05
    assert abs(rejected / reps - 0.05) < 0.0065
    assert known / reps > 0.05 + 0.0065


def test_missing_pre_period_indicator_equals_ols():
    rng = np.random.default_rng(1)
    yc, yt, xc, xt = _data(rng, 2000)
    xc, xt = xc.copy(), xt.copy()
    new_c, new_t = rng.random(xc.size) < 0.2, rng.random(xt.size) < 0.2
    xc[new_c], xt[new_t] = np.nan, np.nan
    yc[new_c] += 1.0  # new users behave differently
    yt[new_t] += 1.0
    res = CUPED().estimate_effect(yc, yt, xc, xt)
    assert res.n_without_pre_period == int(new_c.sum() + new_t.sum())
    assert len(res.theta) == 2
    y = np.r_[yc, yt]
    x0 = np.nan_to_num(np.r_[xc, xt], nan=0.0)
    d = np.r_[new_c, new_t].astype(float)
    T = np.r_[np.zeros(yc.size), np.ones(yt.size)]
    fit = _ols(y, [T, x0, d])
    assert res.effect == pytest.approx(fit.params[1], abs=1e-6)
    assert res.theta == pytest.approx(tuple(fit.params[2:]), abs=1e-6)
    # two covariates fitted, equal arms: the classical OLS SE of T
    assert res.std_error == pytest.approx(_ols(y, [T, x0, d], cov_type="nonrobust").bse[1], rel=1e-9)
    zero = CUPED(missing="zero").estimate_effect(yc, yt, xc, xt)
    assert len(zero.theta) == 1
    assert res.variance_reduction > zero.variance_reduction


@pytest.mark.parametrize("rho", [0.3, 0.6, 0.9])
def test_variance_reduction_is_rho_squared(rho):
    # n = 20000 per arm: the estimated reduction has sampling SE ~ 2 rho sqrt(1-rho^2)^2/sqrt(n)
    # < 0.01, so 0.02 is a safe tolerance
    rng = np.random.default_rng(2)
    yc, yt, xc, xt = _data(rng, 20000, rho=rho)
    res = CUPED().estimate_effect(yc, yt, xc, xt)
    assert isinstance(res, CupedEstimate)
    assert res.variance_reduction == pytest.approx(rho**2, abs=0.02)
    raw = difference_in_means(yc, yt)
    assert res.unadjusted_effect == pytest.approx(raw.effect)
    assert res.unadjusted_std_error == pytest.approx(raw.std_error)


def test_theta_not_biased_by_treatment_effect():
    # a large treatment effect must not leak into theta (within-arm covariance)
    rng = np.random.default_rng(3)
    yc, yt, xc, xt = _data(rng, 5000, effect=0.0)
    a = CUPED().estimate_effect(yc, yt, xc, xt)
    b = CUPED().estimate_effect(yc, yt + 100.0, xc, xt)
    assert a.theta == pytest.approx(b.theta, abs=1e-9)
    assert b.effect - a.effect == pytest.approx(100.0)


def _ratio_arm(rng, n, ctr):
    u = rng.beta(2, 18, n) * ctr / 0.1  # persistent user propensity
    pre_imp = rng.poisson(15, n) * (rng.random(n) > 0.1)  # 10% new users
    imp = rng.poisson(15, n) + 1
    return rng.binomial(imp, u), imp, rng.binomial(pre_imp, u), pre_imp


def test_ratio_cuped_hand_and_reduction():
    rng = np.random.default_rng(4)
    c, t = _ratio_arm(rng, 5000, 0.1), _ratio_arm(rng, 5000, 0.1)
    res = CUPED(missing="zero").estimate_ratio_effect(*c[:2], *t[:2], *c[2:], *t[2:])
    # hand: linearise, theta from pooled within-arm products, adjust by the pre-period ratios
    def lin(x, y):
        r = x.sum() / y.sum()
        return r, (x - r * y) / y.mean()
    rc, lc = lin(*c[:2]); rt, lt = lin(*t[:2])
    pc, lpc = lin(*c[2:]); pt, lpt = lin(*t[2:])
    theta = (lc @ lpc + lt @ lpt) / (lpc @ lpc + lpt @ lpt)
    assert res.theta[0] == pytest.approx(theta, rel=1e-9)
    assert res.effect == pytest.approx((rt - rc) - theta * (pt - pc), abs=1e-12)
    # SE: the residual influence values as a mean metric's residuals (equal arms: each with
    # 5000 - 1 - 1/2 df), plus theta's error on the pre-period ratios' difference
    ss = np.sum((lc - theta * lpc) ** 2) + np.sum((lt - theta * lpt) ** 2)
    theta_var = ss / (10_000 - 3) * (pt - pc) ** 2 / (lpc @ lpc + lpt @ lpt)
    assert res.std_error == pytest.approx(np.sqrt(ss / (5000 * 4998.5) + theta_var), rel=1e-9)
    assert res.variance_reduction > 0.1  # ~0.16 on this data: binomial noise dominates
    ind = CUPED().estimate_ratio_effect(*c[:2], *t[:2], *c[2:], *t[2:])
    assert ind.n_without_pre_period == int((c[3] == 0).sum() + (t[3] == 0).sum())
    # new users click like the rest here: their indicator explains nothing and costs a df
    assert ind.variance_reduction == pytest.approx(res.variance_reduction, abs=0.002)


def test_ratio_cuped_aa_coverage():
    # 300 A/A replications: 95% interval coverage within 3 binomial SE (3.8 points)
    rng = np.random.default_rng(5)
    hits = 0
    for _ in range(300):
        c, t = _ratio_arm(rng, 1000, 0.1), _ratio_arm(rng, 1000, 0.1)
        r = CUPED().estimate_ratio_effect(*c[:2], *t[:2], *c[2:], *t[2:])
        hits += r.ci_low <= 0 <= r.ci_high
    assert abs(hits / 300 - 0.95) < 0.038


def test_errors():
    with pytest.raises(ValueError, match="missing"):
        CUPED(missing="drop")
    with pytest.raises(ValueError, match="alpha"):
        CUPED(alpha=2)
    est = CUPED()
    with pytest.raises(ValueError, match="length mismatch: `control` has 3, `control_covariate` has 2"):
        est.estimate_effect([1, 2, 3], [1, 2], [1, 2], [1, 2])
    with pytest.raises(ValueError, match="`treatment` contains 1 NaN"):
        est.estimate_effect([1, 2], [1, np.nan], [1, 2], [1, 2])
    with pytest.raises(ValueError, match="`control_pre_denominator` sums to 0"):
        est.estimate_ratio_effect([1, 2], [3, 4], [1, 2], [3, 4], [0, 0], [0, 0], [1, 1], [2, 2])
    with pytest.raises(ValueError, match="`treatment_pre_denominator` contains 1 negative"):
        est.estimate_ratio_effect([1, 2], [3, 4], [1, 2], [3, 4], [0, 1], [1, 2], [1, 1], [2, -2])
