"""Kaplan-Meier and the reverse-time (Lynden-Bell) delay curve: by hand, against
statsmodels, on right-truncated exponential delays, and the input errors."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.duration.survfunc import SurvfuncRight

from receval.delayed import DAY, DelayDistribution, kaplan_meier

Z = stats.norm.ppf(0.975)


def loglog(p, var_log):
    """The log-log interval by its formula."""
    c = Z * math.sqrt(var_log) / math.log(p)
    return p ** math.exp(-c), p ** math.exp(c)


# ------------------------------------------------------------------ by hand
def test_kaplan_meier_by_hand():
    # times 1 2 2+ 3 4+ 5 (+: censored). Risk sets 6, 5 (the unit censored at 2 is at risk
    # at 2), 3, 1: S = 5/6, 5/6*4/5 = 2/3, 2/3*2/3 = 4/9, 0.
    c = kaplan_meier([1, 2, 2, 3, 4, 5], [1, 1, 0, 1, 0, 1])
    np.testing.assert_array_equal(c.times, [1, 2, 3, 5])
    np.testing.assert_array_equal(c.n_at_risk, [6, 5, 3, 1])
    np.testing.assert_array_equal(c.n_events, [1, 1, 1, 1])
    np.testing.assert_allclose(c.survival, [5 / 6, 2 / 3, 4 / 9, 0], rtol=1e-15, atol=0)
    # Greenwood: V(3) = 1/(6*5) + 1/(5*4) + 1/(3*2) = 1/4, so SE(3) = 4/9 * 1/2 = 2/9.
    greenwood = np.array([1 / 30, 1 / 30 + 1 / 20, 1 / 4])
    np.testing.assert_allclose(c.std_error[:3], c.survival[:3] * np.sqrt(greenwood), rtol=1e-15)
    assert c.std_error[2] == pytest.approx(2 / 9, rel=1e-15)
    assert (c.ci_low[2], c.ci_high[2]) == pytest.approx(loglog(4 / 9, 1 / 4), rel=1e-14)
    assert (c.std_error[3], c.ci_low[3], c.ci_high[3]) == (0, 0, 0)  # S = 0: degenerate


def test_delay_curve_by_hand():
    # Delays 1 1 2 3 5, observable times 10 1 2 4 10 (window 10). Reverse risk sets
    # r_j = #{D <= s_j} - #{O < s_j}: r(1) = 2, r(2) = 3 - 1, r(3) = 4 - 2, r(5) = 5 - 3.
    # F(5) = 1, F(3) = 1/2, F(2) = 1/4, F(1) = 1/8, F(t < 1) = 0 (the step at 1 has d = r).
    # The empirical CDF of the seen delays (0.4, 0.6, 0.8, 1) ignores that the young
    # clicks could only show short delays.
    curve = DelayDistribution(window=10, horizons=[0.5, 1, 2.5, 10],
                              quantile_levels=[0.2, 0.5]).estimate_delay(
        [1, 1, 2, 3, 5], [10, 1, 2, 4, 10])
    np.testing.assert_array_equal(curve.times, [1, 2, 3, 5])
    np.testing.assert_array_equal(curve.n_events, [2, 1, 1, 1])
    np.testing.assert_array_equal(curve.n_at_risk, [2, 2, 2, 2])
    np.testing.assert_array_equal(curve.cdf, [1 / 8, 1 / 4, 1 / 2, 1])
    # Var log F(s_j) = sum over later steps of d / (r (r - d)) = 1/2 each.
    var_log = np.array([3, 2, 1, 0]) / 2
    np.testing.assert_allclose(curve.std_error, curve.cdf * np.sqrt(var_log), rtol=1e-15)
    assert (curve.ci_low[1], curve.ci_high[1]) == pytest.approx(loglog(1 / 4, 1.0), rel=1e-14)
    assert (curve.ci_low[3], curve.ci_high[3]) == (1, 1)  # F(W) = 1 by definition
    np.testing.assert_array_equal(curve.horizons.cdf, [0, 1 / 8, 1 / 4, 1])
    np.testing.assert_array_equal(curve.horizons.std_error[[0, 3]], [0, 0])
    np.testing.assert_array_equal(curve.quantiles.delay, [2, 3])  # first F >= 0.2, >= 0.5
    assert curve.n == 5 and curve.window == 10


def test_no_truncation_gives_the_empirical_cdf():
    rng = np.random.default_rng(0)
    delay = np.round(rng.exponential(20.0, 500), 1).clip(max=168)
    curve = DelayDistribution().estimate_delay(delay, np.full(delay.size, 168.0))
    ecdf = np.searchsorted(np.sort(delay), curve.times, side="right") / delay.size
    np.testing.assert_allclose(curve.cdf, ecdf, rtol=1e-12)


def test_observable_time_is_capped_at_the_window():
    a = DelayDistribution(window=10).estimate_delay([1, 2, 9], [12, 2, 10])
    b = DelayDistribution(window=10).estimate_delay([1, 2, 9], [10, 2, 1e6])
    np.testing.assert_array_equal(a.cdf, b.cdf)
    np.testing.assert_array_equal(a.observable_time, [10, 2, 10])


# ------------------------------------------------------------- statsmodels
def test_kaplan_meier_matches_statsmodels():
    rng = np.random.default_rng(1)
    t = rng.exponential(2.0, 400)
    c = rng.uniform(0, 5, 400)
    time, event = np.round(np.minimum(t, c), 2), (t <= c).astype(int)  # rounded: ties too
    ours = kaplan_meier(time, event)
    ref = SurvfuncRight(time, event)
    np.testing.assert_allclose(ours.times, ref.surv_times)
    np.testing.assert_allclose(ours.n_at_risk, ref.n_risk)
    np.testing.assert_allclose(ours.survival, ref.surv_prob, rtol=1e-12)
    np.testing.assert_allclose(ours.std_error, ref.surv_prob_se, rtol=1e-10)


def test_delay_curve_is_left_truncated_kaplan_meier_in_reverse_time():
    # Reverse time u = W - D with entry W - O: statsmodels' left-truncated product-limit
    # S*(u) at the reversed event times is F just below each delay, i.e. F at the previous
    # step (continuous times, so statsmodels' strict entry changes nothing).
    rng = np.random.default_rng(2)
    w = 168.0
    click_age = rng.uniform(0, 2 * w, 3000)
    delay = rng.exponential(30.0, 3000)
    keep = (delay <= np.minimum(click_age, w))
    d, o = delay[keep], np.minimum(click_age[keep], w)
    ours = DelayDistribution(window=w).estimate_delay(d, o)
    ref = SurvfuncRight(w - d, np.ones(d.size), entry=w - o)
    np.testing.assert_allclose(ours.cdf[:-1], ref.surv_prob[::-1][1:], rtol=1e-10)
    np.testing.assert_allclose(ours.std_error[:-1], ref.surv_prob_se[::-1][1:], rtol=1e-8)
    np.testing.assert_allclose(ours.n_at_risk, ref.n_risk[::-1])


# ---------------------------------------------- right-truncated exponential delays
MEAN_H, WINDOW, HISTORY = 24.0, 7 * DAY, 14 * DAY


def true_cdf(t):
    """P(D <= t | D <= W) for exponential delays."""
    return (1 - np.exp(-t / MEAN_H)) / (1 - np.exp(-WINDOW / MEAN_H))


def truncated_sample(rng, n_clicks=4000):
    """Converted clicks uniform over the history; a purchase is seen when it arrived
    before the data's end and within the window."""
    age = rng.uniform(0, HISTORY, n_clicks)
    delay = rng.exponential(MEAN_H, n_clicks)
    seen = delay <= np.minimum(age, WINDOW)
    return delay[seen], age[seen]


def test_exponential_delays_cdf_at_one_day():
    delay, age = truncated_sample(np.random.default_rng(3))
    curve = DelayDistribution(window=WINDOW, alpha=0.05).estimate_delay(delay, age)
    at = curve.horizons
    np.testing.assert_array_equal(at.delay, [1, 24, 72, 168])
    assert at.ci_low[1] <= true_cdf(24.0) <= at.ci_high[1]
    assert abs(at.cdf[1] - true_cdf(24.0)) < 3 * at.std_error[1]
    assert at.cdf[3] == 1.0
    # Treating the seen delays as complete overstates the share within a day.
    naive = np.mean(delay <= 24.0)
    assert naive - true_cdf(24.0) > 4 * at.std_error[1]
    # The median of the truncated exponential, inside its interval.
    median = -MEAN_H * np.log(1 - 0.5 * (1 - np.exp(-WINDOW / MEAN_H)))
    q = curve.quantiles
    assert q.ci_low[0] <= median <= q.ci_high[0] and q.ci_low[0] <= q.delay[0] <= q.ci_high[0]


@pytest.mark.slow
def test_exponential_delays_interval_coverage():
    rng = np.random.default_rng(4)
    horizons = np.array([1.0, 24.0, 72.0])
    est = DelayDistribution(window=WINDOW, horizons=horizons)
    covered = np.zeros((2000, horizons.size), dtype=bool)  # coverage SD 0.5%
    for k in range(2000):
        at = est.estimate_delay(*truncated_sample(rng)).horizons
        covered[k] = (at.ci_low <= true_cdf(horizons)) & (true_cdf(horizons) <= at.ci_high)
    coverage = covered.mean(axis=0)
    assert ((coverage >= 0.93) & (coverage <= 0.97)).all(), coverage


# ------------------------------------------------------------------ input errors
@pytest.mark.parametrize("delay, observable, match", [
    ([1.0, -0.5], [168.0, 168.0], "`delay` contains 1 negative"),
    ([1.0, 5.0], [168.0, 4.0], "`observable_time` is below its purchase's `delay`.*index 1"),
    ([1.0, 200.0], [168.0, 300.0], "`delay` is above the attribution window"),
    ([1.0, 2.0], [50.0, 60.0], "`observable_time` never reaches the window"),
    ([1.0, np.nan], [168.0, 168.0], "`delay` contains 1 NaN"),
    ([1.0, 2.0], [168.0], "length mismatch"),
    ([], [], "`delay` is empty"),
])
def test_delay_input_errors(delay, observable, match):
    with pytest.raises(ValueError, match=match):
        DelayDistribution().estimate_delay(delay, observable)


@pytest.mark.parametrize("kwargs, match", [
    ({"alpha": 0.0}, "`alpha` must be in"), ({"alpha": 1.5}, "`alpha` must be in"),
    ({"window": 0}, "`window` must be > 0"), ({"horizons": [-1.0]}, "`horizons` contains"),
    ({"quantile_levels": [0.5, 1.0]}, "`quantile_levels` must be in"),
])
def test_delay_hyperparameter_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DelayDistribution(**kwargs)


def test_kaplan_meier_input_errors():
    with pytest.raises(ValueError, match="`time` contains 1 negative"):
        kaplan_meier([1.0, -1.0], [1, 1])
    with pytest.raises(ValueError, match="`event` must contain only 0 and 1"):
        kaplan_meier([1.0, 2.0], [1, 2])
    with pytest.raises(ValueError, match="`event` has no 1"):
        kaplan_meier([1.0, 2.0], [0, 0])
    with pytest.raises(ValueError, match="`alpha` must be in"):
        kaplan_meier([1.0], [1], alpha=1.0)
