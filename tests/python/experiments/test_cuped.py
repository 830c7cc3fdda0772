import numpy as np
import pytest
import statsmodels.api as sm
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
    # SE: exact against OLS of the adjusted metric on treatment with HC2 (theta held fixed)
    y_adj = y - res.theta[0] * (x - x.mean())
    fixed = _ols(y_adj, [T])
    assert res.std_error == pytest.approx(fixed.bse[1], abs=1e-6)
    assert res.effect == pytest.approx(fixed.params[1], abs=1e-6)
    # p-value and df: exact against a Welch test of the adjusted values
    tstat, p, df = ttest_ind(y_adj[yc.size:], y_adj[: yc.size], usevar="unequal")
    assert res.p_value == pytest.approx(p, abs=1e-6)
    assert res.df == pytest.approx(df, abs=1e-6)
    # the full regression's HC2 SE also accounts for estimating theta: it differs by O(1/n);
    # with n = 6000 the two agree to better than 0.5%
    assert res.std_error == pytest.approx(fit.bse[1], rel=5e-3)


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
    se = np.sqrt(np.var(lc - theta * lpc, ddof=1) / 5000 + np.var(lt - theta * lpt, ddof=1) / 5000)
    assert res.std_error == pytest.approx(se, rel=1e-9)
    assert res.variance_reduction > 0.1  # ~0.16 on this data: binomial noise dominates
    ind = CUPED().estimate_ratio_effect(*c[:2], *t[:2], *c[2:], *t[2:])
    assert ind.n_without_pre_period == int((c[3] == 0).sum() + (t[3] == 0).sum())
    assert ind.variance_reduction >= res.variance_reduction - 1e-9


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
