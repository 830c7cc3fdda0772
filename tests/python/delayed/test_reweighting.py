"""Survival re-weighting of a cohort's conversion rate, on clicks with the simulator's
purchase-delay mixture: bias removed, interval coverage, the mature and no-delay cases,
and the input errors."""
from __future__ import annotations

import numpy as np
import pytest

from receval.delayed import DAY, DelayDistribution, SurvivalReweighting
from receval.simulate.config import SimConfig
from receval.simulate.events import mixture_delay_s

CFG = SimConfig()
WINDOW = CFG.attribution_window_days * DAY
P_BUY = 0.10
# Eventual (attributed) conversion rate: the 7-14 d component is beyond the window.
TRUE_RATE = P_BUY * (CFG.purchase_delay_shares[0] + CFG.purchase_delay_shares[1])


def simulator_delays(rng, n):
    """Purchase delays (hours) drawn as src/receval/simulate/events.py draws them."""
    day_s = 86_400.0
    seconds = mixture_delay_s(rng, n, CFG.purchase_delay_shares, (
        lambda k: np.minimum(rng.lognormal(np.log(CFG.purchase_fast_median_h * 3600),
                                           CFG.purchase_fast_sigma, k), day_s - 1),
        lambda k: rng.uniform(day_s, 7 * day_s, k),
        lambda k: rng.uniform(7 * day_s + 1, 14 * day_s, k)))
    return seconds / 3600


def clicks(rng, per_day, days=21, delays=simulator_delays):
    """Clicks uniform over ``days`` before the data's end: hours elapsed since each, and
    its purchase delay (inf: no purchase)."""
    n = per_day * days
    elapsed = rng.uniform(0, days * DAY, n)
    delay = np.full(n, np.inf)
    buys = rng.random(n) < P_BUY
    delay[buys] = delays(rng, int(buys.sum()))
    return elapsed, delay


def fit(elapsed, delay, cohort, estimator=None):
    """The delay curve from every purchase seen by the data's end, and the cohort's rate."""
    attributed = delay <= WINDOW
    seen = attributed & (delay <= elapsed)
    curve = DelayDistribution(window=WINDOW).estimate_delay(delay[seen], elapsed[seen])
    estimator = estimator or SurvivalReweighting()
    return estimator.estimate_eventual_rate(seen[cohort], elapsed[cohort], curve), attributed


def test_last_day_rate_is_corrected():
    elapsed, delay = clicks(np.random.default_rng(0), per_day=40_000)
    last_day = elapsed < 1 * DAY
    res, attributed = fit(elapsed, delay, last_day)
    assert res.naive < 0.8 * TRUE_RATE                      # the naive rate is > 20% low
    assert abs(res.estimate / TRUE_RATE - 1) < 0.05
    assert abs(res.estimate / attributed[last_day].mean() - 1) < 0.05  # the realised rate
    assert res.ci_low <= TRUE_RATE <= res.ci_high
    assert res.estimate == pytest.approx(res.naive / res.arrival_probability, rel=1e-15)
    assert res.std_error > res.naive_std_error / res.arrival_probability  # curve's share
    assert res.n == last_day.sum() and res.n_groups is None and res.alpha == 0.05


def test_bootstrap_interval_agrees_with_the_delta_method():
    rng = np.random.default_rng(1)
    elapsed, delay = clicks(rng, per_day=5_000)
    last_day = elapsed < 1 * DAY
    users = rng.integers(0, 2_000, elapsed.size)[last_day]
    attributed = delay <= WINDOW
    seen = attributed & (delay <= elapsed)
    curve = DelayDistribution(window=WINDOW).estimate_delay(delay[seen], elapsed[seen])
    est = SurvivalReweighting(n_bootstrap=300, random_state=7)
    res = est.estimate_eventual_rate(seen[last_day], elapsed[last_day], curve, group_ids=users)
    again = est.estimate_eventual_rate(seen[last_day], elapsed[last_day], curve, group_ids=users)
    assert res == again  # an int seed: the same resamples on every call
    assert res.n_bootstrap == 300 and res.n_groups == np.unique(users).size
    width, boot_width = res.ci_high - res.ci_low, res.bootstrap_ci_high - res.bootstrap_ci_low
    assert 0.8 < boot_width / width < 1.25
    assert res.bootstrap_ci_low < res.estimate < res.bootstrap_ci_high


def test_one_elapsed_time_gives_the_curves_standard_error():
    elapsed, delay = clicks(np.random.default_rng(2), per_day=5_000)
    seen = (delay <= WINDOW) & (delay <= elapsed)
    curve = DelayDistribution(window=WINDOW).estimate_delay(delay[seen], elapsed[seen])
    res = SurvivalReweighting().estimate_eventual_rate([0, 1, 0], [30.0] * 3, curve)
    at = curve.cdf_at([30.0])
    assert res.arrival_probability == at.cdf[0]
    assert res.arrival_probability_std_error == pytest.approx(at.std_error[0], rel=1e-12)


def test_prediction_interval_of_one_elapsed_time_by_hand():
    """Every row 30 h old: F_i = F, so Var(R - pi_hat) = pi (1 - F) / (F n) + the curve's term."""
    elapsed, delay = clicks(np.random.default_rng(2), per_day=5_000)
    seen = (delay <= WINDOW) & (delay <= elapsed)
    curve = DelayDistribution(window=WINDOW).estimate_delay(delay[seen], elapsed[seen])
    converted = [1] * 90 + [0] * 910
    res = SurvivalReweighting().estimate_eventual_rate(converted, [30.0] * 1000, curve)
    f, var_f = res.arrival_probability, res.arrival_probability_std_error ** 2
    pi = 0.09 / f
    assert res.prediction_std_error == pytest.approx(
        np.sqrt(pi * (1 - f) / (f * 1000) + 0.09 ** 2 * var_f / f ** 4), rel=1e-12)
    assert res.prediction_low > 0.09   # not clipped at the rate so far
    assert res.prediction_low == pytest.approx(res.estimate - 1.959963984540054 * res.prediction_std_error)
    # the final rate shares the seen purchases' noise: the prediction interval is narrower
    assert res.prediction_std_error < 0.6 * res.std_error


def test_prediction_interval_never_below_the_rate_so_far():
    elapsed, delay = clicks(np.random.default_rng(6), per_day=300)
    res, _ = fit(elapsed, delay, elapsed < 0.5 * DAY)
    assert res.prediction_low >= res.naive and res.prediction_high <= 1.0


def test_mature_cohort_is_unchanged():
    rng = np.random.default_rng(3)
    elapsed, delay = clicks(rng, per_day=5_000)
    mature = elapsed >= WINDOW
    users = rng.integers(0, 3_000, elapsed.size)[mature]
    seen = (delay <= WINDOW) & (delay <= elapsed)
    curve = DelayDistribution(window=WINDOW).estimate_delay(delay[seen], elapsed[seen])
    res = SurvivalReweighting().estimate_eventual_rate(seen[mature], elapsed[mature], curve,
                                                       group_ids=users)
    assert res.arrival_probability == 1.0 and res.arrival_probability_std_error == 0.0
    assert (res.estimate, res.std_error, res.ci_low, res.ci_high) == (
        res.naive, res.naive_std_error, res.naive_ci_low, res.naive_ci_high)
    # its labels are final: nothing left to predict
    assert (res.prediction_std_error, res.prediction_low, res.prediction_high) == (0.0, res.naive, res.naive)


def test_no_delay_changes_nothing():
    elapsed, delay = clicks(np.random.default_rng(4), per_day=5_000,
                            delays=lambda rng, n: np.zeros(n))
    for cohort in (elapsed < 1 * DAY, elapsed < 1.0, elapsed >= WINDOW):
        res, _ = fit(elapsed, delay, cohort)
        assert res.arrival_probability == 1.0
        assert (res.estimate, res.std_error, res.ci_low, res.ci_high) == (
            res.naive, res.naive_std_error, res.naive_ci_low, res.naive_ci_high)


@pytest.mark.slow
def test_interval_coverage_over_replications():
    rng = np.random.default_rng(5)
    covered, bias = [], []
    for _ in range(1000):
        elapsed, delay = clicks(rng, per_day=5_000)
        res, _ = fit(elapsed, delay, elapsed < 1 * DAY)
        covered.append(res.ci_low <= TRUE_RATE <= res.ci_high)
        bias.append(res.estimate / TRUE_RATE - 1)
    assert 0.93 <= np.mean(covered) <= 0.97, np.mean(covered)
    assert abs(np.mean(bias)) < 0.01


# ------------------------------------------------------------------ input errors
@pytest.fixture(scope="module")
def curve():
    return DelayDistribution(window=10).estimate_delay([1, 2, 3, 5], [10, 2, 4, 10])


@pytest.mark.parametrize("converted, elapsed, match", [
    ([0, 2], [1.0, 2.0], "`converted` must contain only 0 and 1"),
    ([0, 1], [1.0, -2.0], "`elapsed` contains 1 negative"),
    ([0, 1], [1.0], "length mismatch"),
    ([], [], "`converted` is empty"),
    ([0, 0], [0.5, 0.2], "`elapsed`: every row is younger than the shortest delay"),
])
def test_rate_input_errors(curve, converted, elapsed, match):
    with pytest.raises(ValueError, match=match):
        SurvivalReweighting().estimate_eventual_rate(converted, elapsed, curve)


def test_rate_argument_errors(curve):
    with pytest.raises(ValueError, match="`delay_curve` must be a DelayCurve"):
        SurvivalReweighting().estimate_eventual_rate([0, 1], [1.0, 2.0], curve.cdf)
    with pytest.raises(ValueError, match="length mismatch: `group_ids`"):
        SurvivalReweighting(n_bootstrap=10).estimate_eventual_rate([0, 1], [1.0, 2.0], curve,
                                                                   group_ids=[1])
    for kwargs, match in [({"alpha": 0}, "`alpha`"), ({"alpha": 1.2}, "`alpha`"),
                          ({"n_bootstrap": -1}, "`n_bootstrap`"),
                          ({"random_state": "x"}, "`random_state`")]:
        with pytest.raises(ValueError, match=match):
            SurvivalReweighting(**kwargs)


@pytest.mark.slow
def test_prediction_interval_covers_the_cohorts_own_final_rate():
    """2,000 replications: the prediction interval covers the realised final rate of the
    cohort (its attributed purchases once every window has closed) 93-97% of the time at
    ages 0-1, 1-2 and 3-4 days, with standardised errors of unit spread (measured: 0.9455,
    0.9455, 0.9485; sd 1.02, 1.01, 1.00)."""
    rng = np.random.default_rng(11)
    covered, z = {0: [], 1: [], 3: []}, {0: [], 1: [], 3: []}
    for _ in range(2000):
        elapsed, delay = clicks(rng, per_day=5_000)
        for age in covered:
            cohort = (elapsed >= age * DAY) & (elapsed < (age + 1) * DAY)
            res, attributed = fit(elapsed, delay, cohort)
            final = attributed[cohort].mean()
            covered[age].append(res.prediction_low <= final <= res.prediction_high)
            z[age].append((res.estimate - final) / res.prediction_std_error)
    for age in covered:
        assert 0.93 <= np.mean(covered[age]) <= 0.97, (age, np.mean(covered[age]))
        assert 0.9 < np.std(z[age]) < 1.1, (age, np.std(z[age]))
