"""ThompsonSampling: Beta and Normal posteriors, P(best), allocation and credible intervals."""
import numpy as np
import pytest
from scipy import stats

from receval.experiments import ThompsonSampling


def test_thompson_beta_posterior_and_allocation():
    ts = ThompsonSampling(min_share=0.1, n_samples=20000, random_state=0)
    res = ts.allocate_binary([5, 50, 48], [100, 1000, 1000], arms=["a", "b", "c"])
    assert res.posterior[0] == {"alpha": 6.0, "beta": 96.0}
    assert res.posterior[1] == {"alpha": 51.0, "beta": 951.0}
    assert res.posterior_mean[2] == pytest.approx(49 / 1002)
    assert sum(res.allocation) == pytest.approx(1.0)
    assert min(res.allocation) >= 0.1 - 1e-12
    assert sum(res.prob_best) == pytest.approx(1.0)
    # clear case: one arm is far better
    clear = ts.allocate_binary([10, 100], [1000, 1000])
    assert clear.prob_best[1] > 0.999 and clear.allocation == pytest.approx((0.1, 0.9), abs=1e-3)
    # identical arms: P(best) ~ 1/2 within 4 MC standard errors
    same = ts.allocate_binary([50, 50], [1000, 1000])
    assert abs(same.prob_best[0] - 0.5) < 4 * same.prob_best_std_error[0]
    # P(best) of two Betas against numerical integration
    two = ts.allocate_binary([30, 40], [500, 500])
    x = np.linspace(0, 1, 200001)
    exact = np.trapezoid(stats.beta(41, 461).pdf(x) * stats.beta(31, 471).cdf(x), x)
    assert two.prob_best[1] == pytest.approx(exact, abs=4 * two.prob_best_std_error[1])
    assert ts.allocate_binary([30, 40], [500, 500]) == two  # seeded


def test_thompson_normal_posterior():
    rng = np.random.default_rng(1)
    a, b = rng.normal(10, 5, 400), rng.normal(10.5, 5, 900)
    res = ThompsonSampling(random_state=0).allocate_normal({"ctl": a, "trt": b})
    assert res.posterior[0]["mean"] == pytest.approx(a.mean())
    assert res.posterior[1]["sd"] == pytest.approx(b.std(ddof=1) / np.sqrt(900))
    p = stats.norm.cdf((b.mean() - a.mean()) / np.hypot(res.posterior[0]["sd"], res.posterior[1]["sd"]))
    assert res.prob_best[1] == pytest.approx(p, abs=4 * res.prob_best_std_error[1] + 1e-3)
    pri = ThompsonSampling(prior_mean=0.0, prior_variance=1.0).allocate_normal([[1.0, 3.0], [2.0, 2.5]])
    v = 1 / (1 + 2 / 2.0)  # sample variance of [1, 3] is 2
    assert pri.posterior[0]["mean"] == pytest.approx(v * (2 / 2.0) * 2.0)
    assert pri.posterior[0]["sd"] == pytest.approx(np.sqrt(v))


def test_thompson_validation():
    with pytest.raises(ValueError, match="min_share"):
        ThompsonSampling(min_share=1.0)
    with pytest.raises(ValueError, match="infeasible"):
        ThompsonSampling(min_share=0.4).allocate_binary([1, 1, 1], [2, 2, 2])
    with pytest.raises(ValueError, match="more successes"):
        ThompsonSampling().allocate_binary([3, 1], [2, 2])
    with pytest.raises(ValueError, match="at least 2 arms"):
        ThompsonSampling().allocate_binary([1], [2])
    with pytest.raises(ValueError, match="prior_alpha"):
        ThompsonSampling(prior_alpha=0)
    with pytest.raises(ValueError, match="n_samples"):
        ThompsonSampling(n_samples=5)


def test_thompson_credible_intervals_honour_alpha():
    beta95 = ThompsonSampling(n_samples=200, random_state=0).allocate_binary([30, 45], [1000, 1000])
    beta90 = ThompsonSampling(n_samples=200, random_state=0, alpha=0.10).allocate_binary([30, 45], [1000, 1000])
    a, b = 1 + 30, 1 + 970
    assert beta95.alpha == 0.05 and beta95.posterior_sd[0] == pytest.approx(stats.beta(a, b).std(), rel=1e-12)
    assert (beta95.credible_low[0], beta95.credible_high[0]) == tuple(stats.beta.ppf([0.025, 0.975], a, b))
    rng = np.random.default_rng(3)
    samples = {"a": rng.normal(10, 2, 500), "b": rng.normal(10.5, 2, 500)}
    norm95 = ThompsonSampling(n_samples=200, random_state=0).allocate_normal(samples)
    norm90 = ThompsonSampling(n_samples=200, random_state=0, alpha=0.10).allocate_normal(samples)
    m, sd = norm95.posterior[0]["mean"], norm95.posterior[0]["sd"]
    assert norm95.credible_low[0] == m - 1.959963984540054 * sd
    for wide, narrow in ((beta95, beta90), (norm95, norm90)):
        for i in range(2):
            assert wide.credible_low[i] < narrow.credible_low[i] < narrow.credible_high[i] < wide.credible_high[i]
