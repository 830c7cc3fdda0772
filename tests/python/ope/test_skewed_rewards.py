"""The analytic interval on a reward carried by a few large values (revenue on a few dozen
purchases): Hall's skewness-corrected interval against the Wald one, the skewness against
scipy, and coverage of a known value."""
import math

import numpy as np
import pytest
from scipy import stats

from receval import ope
from receval.metrics.uncertainty import normal_interval, skew_corrected_interval
from receval.ope._core import sampling_skewness


def test_zero_skewness_gives_the_wald_interval_and_nan_skewness_too():
    assert skew_corrected_interval(1.5, 0.2, 0.0) == pytest.approx(normal_interval(1.5, 0.2), rel=1e-15)
    assert skew_corrected_interval(1.5, 0.2, math.nan) == pytest.approx(normal_interval(1.5, 0.2), rel=1e-15)
    assert all(math.isnan(x) for x in skew_corrected_interval(math.nan, 0.2, 0.3))


def test_the_interval_inverts_halls_transformation():
    """g(T) = T + a T^2 + a^2 T^3 / 3 + b (a = kappa / 3, b = kappa / 6) maps the ends'
    studentised errors onto -/+ z; positive skewness lengthens the right side."""
    value, se, kappa, z = 10.0, 2.0, 0.4, stats.norm.ppf(0.975)
    lo, hi = skew_corrected_interval(value, se, kappa)
    a, b = kappa / 3, kappa / 6
    g = lambda t: t + a * t ** 2 + a ** 2 * t ** 3 / 3 + b  # noqa: E731
    assert g((value - hi) / se) == pytest.approx(-z, rel=1e-12)
    assert g((value - lo) / se) == pytest.approx(z, rel=1e-12)
    assert hi - value > value - lo
    mirrored = skew_corrected_interval(-value, se, -kappa)
    assert mirrored == pytest.approx((-hi, -lo), rel=1e-12)


def test_sampling_skewness_is_scipys_over_sqrt_of_the_clusters():
    rng = np.random.default_rng(3)
    group = rng.integers(0, 400, size=3000)
    reward = np.where(rng.random(3000) < 0.02, rng.lognormal(3.3, 0.8, 3000), 0.0)
    p_log = rng.uniform(0.2, 0.8, 3000)
    p_target = rng.uniform(0.0, 1.0, 3000)
    res = ope.IPS().estimate_policy_value(reward, p_log, p_target, group_ids=group)
    psi = np.bincount(group, weights=p_target / p_log * reward - res.estimate, minlength=400)
    assert res.skewness == pytest.approx(stats.skew(psi) / math.sqrt(400), rel=1e-10)
    assert sampling_skewness(psi) == pytest.approx(res.skewness, rel=1e-12)
    assert math.isnan(sampling_skewness(np.zeros(5)))


def _coverage(purchases: float, reps: int = 2000, n: int = 4000) -> dict[str, float]:
    """IPS of revenue = purchase x a lognormal price (the simulator's price spread), with
    importance weights ``w`` of mean 1 and log-sd 0.8, ``purchases`` expected purchases per
    sample. The estimator sees ``w / max(w)`` (a target probability is at most 1) and its
    interval is scaled back by ``max(w)``: the skewness does not change with the scale."""
    rng = np.random.default_rng(20261205)
    p, mu, sd = purchases / n, 3.3, 0.83
    truth = p * math.exp(mu + sd ** 2 / 2)  # E[w] = 1 and w independent of the reward
    hits = {"hall": 0, "wald": 0}
    for _ in range(reps):
        reward = np.where(rng.random(n) < p, rng.lognormal(mu, sd, n), 0.0)
        w = rng.lognormal(-0.32, 0.8, n)
        res = ope.IPS().estimate_policy_value(reward, np.full(n, 0.5), 0.5 * w / w.max())
        scale = w.max()
        hits["hall"] += res.ci_low * scale <= truth <= res.ci_high * scale
        lo, hi = normal_interval(res.estimate, res.std_error)
        hits["wald"] += lo * scale <= truth <= hi * scale
    return {k: v / reps for k, v in hits.items()}


@pytest.mark.parametrize("purchases", [20, 60])
def test_coverage_of_revenue_on_a_few_purchases(purchases):
    """2,000 seeded samples (Monte Carlo SE of a 95% coverage: 0.005). The Wald interval
    misses the truth on the right (0.851 on 20 purchases, 0.897 on 60); Hall's covers (0.951,
    0.946)."""
    cov = _coverage(purchases)
    assert 0.93 <= cov["hall"] <= 0.97, cov
    assert cov["wald"] < 0.915, cov
