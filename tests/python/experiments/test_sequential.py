import math

import numpy as np
import pytest

from receval.experiments import DifferenceInMeans, MixtureSPRT

DAYS, PER_DAY = 14, 150


def _simulate(reps, seed, effect=0.0):
    """Fixed-horizon, naive daily peeking and mSPRT daily peeking on A/A (or A/B) streams."""
    rng = np.random.default_rng(seed)
    welch, sprt = DifferenceInMeans(0.05), MixtureSPRT(mixing_variance=0.01, alpha=0.05)
    looks = np.column_stack([np.arange(1, DAYS + 1) * PER_DAY] * 2)
    fixed = naive = seq = 0
    for _ in range(reps):
        c = rng.exponential(1.0, DAYS * PER_DAY)  # skewed, like revenue
        t = rng.exponential(1.0, DAYS * PER_DAY) + effect
        p_daily = [welch.estimate_effect(c[:n], t[:n]).p_value for n in looks[:, 0]]
        fixed += p_daily[-1] < 0.05
        naive += min(p_daily) < 0.05
        seq += sprt.test(c, t, looks=looks).rejected
    return fixed / reps, naive / reps, seq / reps


def test_peeking_fast():
    # 300 replications: binomial SE of a 5% rate is 1.26 points; bounds are ~3 SE wide.
    # Naive peeking over 14 looks is ~20% in theory, far above 10%.
    fixed, naive, seq = _simulate(300, seed=0)
    assert 0.012 <= fixed <= 0.088
    assert naive >= 0.10 and naive > fixed
    assert seq <= 0.088


@pytest.mark.slow
def test_peeking_slow():
    # 2000 replications: SE of a 5% rate is 0.49 points, so 5% +/- 1.5% is a ~3 SE band.
    fixed, naive, seq = _simulate(2000, seed=1)
    print(f"A/A false-positive rates: fixed={fixed:.4f} naive-peeking={naive:.4f} msprt={seq:.4f}")
    assert abs(fixed - 0.05) <= 0.015
    assert naive >= 0.12
    assert seq <= 0.05


def test_power_with_real_effect():
    fixed, _, seq = _simulate(60, seed=2, effect=0.15)
    assert fixed > 0.9 and seq > 0.8


def test_hand_computed_likelihood_ratio_and_cs():
    s = MixtureSPRT(mixing_variance=0.04, alpha=0.1)
    res = s.test_summary([0.3], [0.1], [100], [100])
    V, tau2, d = 0.01, 0.04, 0.3
    lr = math.sqrt(V / (V + tau2)) * math.exp(tau2 * d**2 / (2 * V * (V + tau2)))
    assert res.likelihood_ratio[0] == pytest.approx(lr, rel=1e-12)
    assert res.p_value[0] == pytest.approx(min(1, 1 / lr), rel=1e-12)
    r = math.sqrt(2 * V * (V + tau2) / tau2 * (math.log(10) + 0.5 * math.log((V + tau2) / V)))
    assert (res.cs_low[0], res.cs_high[0]) == pytest.approx((d - r, d + r))
    # the CS boundary is exactly where Lambda = 1/alpha
    at_edge = MixtureSPRT(mixing_variance=0.04, alpha=0.1, null_effect=d - r).test_summary([d], [0.1], [100], [100])
    assert at_edge.likelihood_ratio[0] == pytest.approx(10.0, rel=1e-9)


def test_running_min_and_intersection():
    rng = np.random.default_rng(3)
    res = MixtureSPRT(0.01).test(rng.normal(0, 1, 3000), rng.normal(0.05, 1, 3000), looks=20)
    assert np.all(np.diff(res.p_value) <= 0)
    assert np.all(np.diff(res.cs_low) >= 0) and np.all(np.diff(res.cs_high) <= 0)
    assert res.n_control[-1] == 3000 and len(res.effect) == 20
    # the final estimate from raw data equals the Welch estimate on all data
    full = MixtureSPRT(0.01).test(np.arange(10.0), np.arange(10.0) ** 1.5)
    ref = DifferenceInMeans().estimate_effect(np.arange(10.0), np.arange(10.0) ** 1.5)
    assert full.effect[-1] == pytest.approx(ref.effect) and full.std_error[-1] == pytest.approx(ref.std_error)


def test_confidence_sequence_coverage():
    # 200 replications with 20 looks each: the CS must cover the truth at all looks >= 95%
    # of the time (its guarantee); allow 3 binomial SE (4.6 points) of simulation noise.
    rng = np.random.default_rng(4)
    s = MixtureSPRT(0.01)
    cover = np.mean([
        (lambda r: min(r.cs_high) >= 0.1 and max(r.cs_low) <= 0.1)(
            s.test(rng.normal(0, 1, 2000), rng.normal(0.1, 1, 2000), looks=20))
        for _ in range(200)
    ])
    assert cover >= 0.95 - 0.046


def test_errors():
    with pytest.raises(ValueError, match="mixing_variance"):
        MixtureSPRT(mixing_variance=0)
    with pytest.raises(ValueError, match="alpha"):
        MixtureSPRT(0.01, alpha=1)
    s = MixtureSPRT(0.01)
    with pytest.raises(ValueError, match="more users than exist"):
        s.test(np.ones(10), np.arange(10.0), looks=[[5, 5], [11, 10]])
    with pytest.raises(ValueError, match="non-decreasing"):
        s.test(np.arange(10.0), np.arange(10.0), looks=[[6, 6], [5, 5]])
    with pytest.raises(ValueError, match="at least 2 users"):
        s.test(np.arange(10.0), np.arange(10.0), looks=[[1, 5]])
    with pytest.raises(ValueError, match="shape"):
        s.test(np.arange(10.0), np.arange(10.0), looks=[1, 2, 3])
    with pytest.raises(ValueError, match="std_error"):
        s.test_summary([0.1], [0.0], [10], [10])
