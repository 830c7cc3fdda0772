"""Chapelle's delayed feedback model: closed forms on mature data, the likelihood against
its formula, gradient and Hessian against finite differences, recovery and interval
coverage on data drawn from the model, the no-delay world, and the input errors."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize, sparse, special

from receval.delayed import DelayedFeedbackModel
from receval.delayed._dfm_likelihood import Likelihood
from receval.metrics.uncertainty import mean_with_clt

WINDOW = 168.0


def draw(rng, p, n_per_cohort, *, rate=1 / 20, shape=1.0, window=WINDOW, history=10 * 24.0):
    """Clicks of cohorts with eventual rates ``p``, drawn from the model itself: elapsed
    uniform over ``history``; a converting click's delay from the Weibull(rate, shape) law
    truncated to [0, window] (inverse CDF); converted so far when the delay <= elapsed."""
    cohort = np.repeat(np.arange(len(p)), n_per_cohort)
    n = cohort.size
    elapsed = rng.uniform(0, history, n)
    eventual = rng.random(n) < np.asarray(p)[cohort]
    f_w = -np.expm1(-(rate * window) ** shape) if math.isfinite(window) else 1.0
    delay = (-np.log1p(-rng.random(n) * f_w)) ** (1 / shape) / rate
    converted = eventual & (delay <= elapsed)
    return cohort, converted, np.where(converted, delay, np.nan), elapsed


# ------------------------------------------------------------- closed forms
def test_mature_rows_without_window_give_the_closed_form():
    # W = inf and every click observed for 10^6 h (S(e) = 0): the likelihood separates into
    # a Bernoulli per cohort and an exponential sample, so p_c = share converted and
    # rate = 1 / mean delay; Var(p_c) = p (1 - p) / n_c and Var(log rate) = 1 / n_converted.
    rng = np.random.default_rng(0)
    cohort = rng.integers(0, 3, 3000)
    converted = rng.random(3000) < np.array([0.1, 0.2, 0.3])[cohort]
    delay = np.where(converted, rng.exponential(10.0, 3000), np.nan)
    res = DelayedFeedbackModel("exponential", window=math.inf).cohort_rates(cohort, converted, delay,
                                                                            np.full(3000, 1e6))
    share = np.array([converted[cohort == c].mean() for c in range(3)])
    n_c = np.bincount(cohort)
    np.testing.assert_array_equal(res.cohorts, [0, 1, 2])
    np.testing.assert_allclose(res.estimate, share, rtol=1e-6)
    np.testing.assert_allclose(res.naive, share, rtol=1e-15)
    np.testing.assert_allclose(math.exp(res.fit.delay_coef[0]), 1 / np.nanmean(delay), rtol=1e-6)
    np.testing.assert_allclose(res.std_error, np.sqrt(share * (1 - share) / n_c), rtol=1e-6)
    np.testing.assert_allclose(res.fit.delay_std_error, 1 / math.sqrt(converted.sum()), rtol=1e-6)
    np.testing.assert_allclose(res.ci_low, share - 1.959963984540054 * res.std_error, rtol=1e-9)
    assert res.fit.converged and res.fit.covariance_type == "observed_information"
    np.testing.assert_array_equal(res.n, n_c)
    assert res.fit.shape == 1.0 and res.fit.n == 3000 and res.fit.n_converted == converted.sum()


def test_mature_rows_within_a_window_give_the_truncated_closed_form():
    # W = 48 h, every click older than W: p_c = share converted still, and the rate solves
    # the truncated exponential's score equation mean(d) = 1/rate - W / (exp(rate W) - 1).
    rng = np.random.default_rng(1)
    cohort = rng.integers(0, 2, 4000)
    w = 48.0
    raw = rng.exponential(30.0, 4000)
    converted = (rng.random(4000) < np.array([0.15, 0.25])[cohort]) & (raw <= w)
    delay = np.where(converted, raw, np.nan)
    elapsed = rng.uniform(w, 3 * w, 4000)
    res = DelayedFeedbackModel("exponential", window=w).cohort_rates(cohort, converted, delay, elapsed)
    mean_d = np.nanmean(delay)
    rate = optimize.brentq(lambda r: 1 / r - w / math.expm1(r * w) - mean_d, 1e-4, 10.0, xtol=1e-14)
    np.testing.assert_allclose(res.estimate, [converted[cohort == c].mean() for c in range(2)], rtol=1e-6)
    np.testing.assert_allclose(math.exp(res.fit.delay_coef[0]), rate, rtol=1e-6)
    np.testing.assert_allclose(res.fit.delay_cdf([w, 2 * w, 0.0]), [1.0, 1.0, 0.0])
    np.testing.assert_allclose(res.fit.delay_cdf([24.0]), -math.expm1(-rate * 24) / -math.expm1(-rate * w))


def test_mature_cohort_clustered_error_is_the_clustered_clt():
    # One cohort, all mature: the sandwich on users is the clustered CLT error of the share
    rng = np.random.default_rng(2)
    users = rng.integers(0, 300, 2000)
    converted = rng.random(2000) < 0.05 + 0.2 * (users % 3 == 0)  # correlated within users
    delay = np.where(converted, rng.exponential(10.0, 2000), np.nan)
    res = DelayedFeedbackModel("exponential").cohort_rates(np.zeros(2000), converted, delay,
                                                           np.full(2000, 500.0), group_ids=users)
    clt = mean_with_clt(converted.astype(float), group_ids=users)
    assert res.estimate[0] == pytest.approx(clt.value, rel=1e-9)
    assert res.std_error[0] == pytest.approx(clt.std_error, rel=1e-9)
    assert res.fit.covariance_type == "cluster_robust" and res.fit.n_groups == np.unique(users).size


# ------------------------------------------------------- the likelihood itself
@pytest.mark.parametrize("window", [WINDOW, math.inf])
def test_log_likelihood_is_chapelles_formula(window):
    # exponential: sum over converted of log p + log lam - lam d - log F(W), over the rest
    # log(1 - p F(min(e, W)) / F(W)); with W = inf, F(W) = 1: Chapelle (2014), eq. (3)-(4)
    rng = np.random.default_rng(3)
    cohort, converted, delay, elapsed = draw(rng, [0.2, 0.4], 300, window=window)
    fit = DelayedFeedbackModel("exponential", window=window).cohort_rates(cohort, converted, delay, elapsed).fit
    p, lam = special.expit(fit.coef)[cohort], math.exp(fit.delay_coef[0])
    f_w = -math.expm1(-lam * window) if math.isfinite(window) else 1.0
    ell = np.where(converted, np.log(p) + math.log(lam) - lam * np.nan_to_num(delay) - math.log(f_w),
                   np.log(1 - p * -np.expm1(-lam * np.minimum(elapsed, window)) / f_w))
    assert fit.log_likelihood == pytest.approx(ell.sum(), rel=1e-12)


@pytest.mark.parametrize("weibull", [False, True])
@pytest.mark.parametrize("window", [WINDOW, math.inf])
def test_gradient_and_hessian_match_finite_differences(weibull, window):
    rng = np.random.default_rng(4)
    n = 300
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    Xd = np.column_stack([np.ones(n), 0.3 * rng.normal(size=n)])
    elapsed = rng.uniform(0, 300, n)
    elapsed[:3] = 0.0                                       # too young to carry information
    converted = (rng.random(n) < 0.3) & (elapsed > 0)
    delay = np.where(converted, rng.uniform(0.01, 1, n) * np.minimum(elapsed, 168.0), 0.0)
    lik = Likelihood(X, Xd, converted, delay, elapsed, window, weibull, ridge=0.1,
                     weights=rng.integers(1, 4, n).astype(float))
    theta = np.array([-0.5, 0.3, -3.0, 0.2] + ([math.log(0.6)] if weibull else []))
    _, grad = lik.nll_grad(theta)
    hess = lik.hessian(theta)
    eps, basis = 1e-6, np.eye(theta.size)
    up, down = [lik.nll_grad(theta + eps * b) for b in basis], [lik.nll_grad(theta - eps * b) for b in basis]
    num_grad = [(u[0] - d[0]) / (2 * eps) for u, d in zip(up, down)]
    num_hess = [(u[1] - d[1]) / (2 * eps) for u, d in zip(up, down)]
    np.testing.assert_allclose(grad, num_grad, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(hess, np.array(num_hess), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(hess, hess.T)


def test_weibull_with_shape_one_is_the_exponential():
    rng = np.random.default_rng(5)
    cohort, converted, delay, elapsed = draw(rng, [0.3], 400)
    X, y = np.ones((cohort.size, 1)), converted
    d = np.nan_to_num(delay)
    exp = Likelihood(X, X, y, d, elapsed, WINDOW, weibull=False, ridge=0.0)
    wei = Likelihood(X, X, y, d, elapsed, WINDOW, weibull=True, ridge=0.0)
    assert exp.nll_grad(np.array([-1.0, -3.0]))[0] == pytest.approx(
        wei.nll_grad(np.array([-1.0, -3.0, 0.0]))[0], rel=1e-14)


# ----------------------------------------------------- recovery and coverage
def test_recovers_cohort_rates_and_delay_drawn_from_the_model():
    rng = np.random.default_rng(6)
    p = [0.05, 0.10, 0.20]
    cohort, converted, delay, elapsed = draw(rng, p, 8000, rate=1 / 48, history=8 * 24.0)
    res = DelayedFeedbackModel("exponential").cohort_rates(cohort, converted, delay, elapsed)
    assert (np.abs(res.estimate - p) < 3 * res.std_error).all(), (res.estimate, res.std_error)
    assert (res.naive < np.asarray(p) * 0.85).all()         # ~ 25% still to come
    rate_z = (res.fit.delay_coef[0] - math.log(1 / 48)) / res.fit.delay_std_error[0]
    assert abs(rate_z) < 3
    # the Weibull (the default) nests it: shape near 1
    weibull = DelayedFeedbackModel().cohort_rates(cohort, converted, delay, elapsed)
    assert abs(weibull.fit.shape - 1) < 3 * weibull.fit.shape_std_error
    assert (np.abs(weibull.estimate - p) < 3 * weibull.std_error).all()


def test_recovers_a_weibull_delay_and_covariates():
    # p(x) = sigmoid(-2 + 0.8 x), log rate(x) = log(1/30) + 0.5 x, shape 0.6 (Chapelle's
    # form: the same x in both), W = 168 h
    rng = np.random.default_rng(7)
    n = 30_000
    x = rng.normal(size=n)
    X = np.column_stack([np.ones(n), x])
    w, vd, k = np.array([-2.0, 0.8]), np.array([math.log(1 / 30), 0.5]), 0.6
    rate = np.exp(X @ vd)
    f_w = -np.expm1(-(rate * WINDOW) ** k)
    delay = (-np.log1p(-rng.random(n) * f_w)) ** (1 / k) / rate
    elapsed = rng.uniform(0, 240, n)
    converted = (rng.random(n) < special.expit(X @ w)) & (delay <= elapsed)
    users = rng.integers(0, n // 3, n)
    fit = DelayedFeedbackModel("weibull").fit(X, converted, np.where(converted, delay, np.nan), elapsed,
                                              group_ids=users)
    assert fit.converged and fit.covariance_type == "cluster_robust"
    assert (np.abs(fit.coef - w) < 3.5 * fit.std_error).all(), (fit.coef, fit.std_error)
    assert (np.abs(fit.delay_coef - vd) < 3.5 * fit.delay_std_error).all()
    assert abs(fit.shape - k) < 3.5 * fit.shape_std_error
    np.testing.assert_allclose(fit.predict_proba(X[:5]), special.expit(X[:5] @ fit.coef))
    # sparse and dense designs give the same fit
    same = DelayedFeedbackModel("weibull").fit(sparse.csr_matrix(X), converted,
                                               np.where(converted, delay, np.nan), elapsed, group_ids=users)
    np.testing.assert_allclose(same.coef, fit.coef, rtol=1e-7)
    np.testing.assert_allclose(same.std_error, fit.std_error, rtol=1e-6)


def test_interval_coverage_over_draws():
    rng = np.random.default_rng(8)
    p = np.array([0.05, 0.10, 0.20])
    model = DelayedFeedbackModel("exponential", alpha=0.10)
    covered = []
    for _ in range(100):
        res = model.cohort_rates(*draw(rng, p, 1500, rate=1 / 48, history=8 * 24.0))
        covered.append((res.ci_low <= p) & (p <= res.ci_high))
    share = np.mean(covered)                                  # 300 intervals: SD 1.7%
    assert 0.85 <= share <= 0.95, share


# ------------------------------------------------------------ no delay at all
@pytest.mark.parametrize("delay_law", ["exponential", "weibull"])
@pytest.mark.parametrize("longest", [1 / 60, 0.0])  # delays within a minute, or all exactly 0
def test_no_delay_gives_the_naive_rate(delay_law, longest):
    rng = np.random.default_rng(9)
    cohort = rng.integers(0, 4, 6000)
    elapsed = rng.uniform(0.5, 300, 6000)
    converted = rng.random(6000) < np.array([0.05, 0.1, 0.15, 0.2])[cohort]
    delay = np.where(converted, rng.uniform(0, longest, 6000), np.nan)
    res = DelayedFeedbackModel(delay_law).cohort_rates(cohort, converted, delay, elapsed)
    assert res.fit.converged
    if delay_law == "weibull" and longest == 0:  # every delay the same (raised to 1 s): the
        assert res.fit.shape == pytest.approx(math.exp(6)) and res.fit.shape_std_error == 0  # bound
    np.testing.assert_allclose(res.estimate, res.naive, rtol=1e-9)
    np.testing.assert_allclose(res.std_error, np.sqrt(res.naive * (1 - res.naive) / res.n), rtol=1e-6)


def test_cohorts_without_or_with_only_conversions():
    cohort = np.array([0] * 4 + [1] * 3 + [2] * 4)
    converted = np.array([1, 0, 0, 1] + [0, 0, 0] + [1, 1, 1, 1], dtype=bool)
    delay = np.where(converted, [1, 0, 0, 3, 0, 0, 0, 2, 5, 1, 8], np.nan)
    elapsed = np.array([10, 30, 2, 200, 5, 6, 7, 20, 30, 40, 200], dtype=float)
    res = DelayedFeedbackModel("exponential").cohort_rates(cohort, converted, delay, elapsed)
    assert res.estimate[1] == 0.0 and res.estimate[2] == 1.0
    assert (res.std_error[1:] == 0).all() and (res.ci_low[1], res.ci_high[2]) == (0.0, 1.0)
    assert res.naive[0] <= res.estimate[0] <= 1.0 and res.std_error[0] > 0
    np.testing.assert_array_equal(res.n_converted, [2, 0, 4])


# ------------------------------------------------------------------ input errors
@pytest.mark.parametrize("converted, delay, elapsed, match", [
    ([1, 0], [-1.0, np.nan], [5.0, 5.0], "`delay` is negative"),
    ([1, 0], [6.0, np.nan], [5.0, 5.0], "`delay` is above its row's `elapsed`.*index 0"),
    ([0, 1], [np.nan, np.nan], [5.0, 5.0], "`delay` is NaN/null where `converted` is 1"),
    ([1, 0], [1.0, np.nan], [5.0, np.nan], "`elapsed` contains 1 NaN"),
    ([1, 0], [1.0, np.nan], [5.0, -1.0], "`elapsed` contains 1 negative"),
    ([1, 0], [1.0, np.nan], [5.0], "length mismatch"),
    ([1, 0], [200.0, np.nan], [300.0, 5.0], "`delay` is above the attribution window"),
    ([0, 0], [np.nan, np.nan], [5.0, 5.0], "`converted` has no 1"),
    ([1, 2], [1.0, np.nan], [5.0, 5.0], "`converted` must contain only 0 and 1"),
    ([], [], [], "`converted` is empty"),
])
def test_input_errors(converted, delay, elapsed, match):
    with pytest.raises(ValueError, match=match):
        DelayedFeedbackModel("exponential").cohort_rates(np.zeros(len(converted)), converted, delay, elapsed)


def test_argument_errors():
    ok = ([1, 0], [1.0, np.nan], [5.0, 5.0])
    with pytest.raises(ValueError, match="length mismatch: `converted` has 2, `cohort_codes` has 3"):
        DelayedFeedbackModel("exponential").cohort_rates([0, 0, 1], *ok)
    with pytest.raises(ValueError, match="length mismatch: `group_ids`"):
        DelayedFeedbackModel("exponential").cohort_rates([0, 0], *ok, group_ids=[1])
    with pytest.raises(ValueError, match="length mismatch: `X` has 3 rows"):
        DelayedFeedbackModel("exponential").fit(np.ones((3, 1)), *ok)
    with pytest.raises(ValueError, match="`X` contains NaN"):
        DelayedFeedbackModel("exponential").fit([[1.0], [np.nan]], *ok)
    fit = DelayedFeedbackModel("exponential").fit(np.ones((2, 1)), *ok)
    with pytest.raises(ValueError, match="`X` has 2 column"):
        fit.predict_proba(np.ones((1, 2)))
    for kwargs, match in [({"delay": "gamma"}, "`delay` must be one of"),
                          ({"window": 0}, "`window` must be > 0"), ({"alpha": 1.0}, "`alpha`"),
                          ({"ridge": -1.0}, "`ridge` must be >= 0"), ({"min_delay": 0.0}, "`min_delay` must be > 0"),
                          ({"max_iter": 0}, "`max_iter`")]:
        with pytest.raises(ValueError, match=match):
            DelayedFeedbackModel(**kwargs)
