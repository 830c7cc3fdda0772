import numpy as np
import pytest
from scipy import stats

from receval.experiments import (
    InterleavingAnalysis, ThompsonSampling, balanced_credit, balanced_interleave,
    team_draft_credit, team_draft_interleave,
)


def _rankings(rng, n_items=30, k=10):
    return list(rng.permutation(n_items)[:k]), list(rng.permutation(n_items)[:k])


@pytest.mark.parametrize("seed", range(25))
def test_team_draft_is_valid(seed):
    rng = np.random.default_rng(seed)
    a, b = _rankings(rng, n_items=30, k=15)
    # a list of 10 never exhausts either ranking (15 items each), so teams stay balanced
    il = team_draft_interleave(a, b, length=10, random_state=seed)
    items, teams = list(il.items), list(il.teams)
    assert len(items) == len(set(items)) == 10  # each item once
    for k in range(1, len(items) + 1):
        na, nb = teams[:k].count("A"), teams[:k].count("B")
        assert abs(na - nb) <= 1
        if k % 2 == 0:
            assert na == nb
        # prefix property: top floor(k/2) of both rankings are in the first k positions
        assert set(a[: k // 2]) <= set(items[:k])
        assert set(b[: k // 2]) <= set(items[:k])
    # each team's picks follow its own ranking, and each pick was its best unused item
    for i, (item, team) in enumerate(zip(items, teams)):
        r = a if team == "A" else b
        assert item == next(x for x in r if x not in items[:i])
    assert team_draft_interleave(a, b, length=10, random_state=seed) == il  # deterministic
    full = team_draft_interleave(a, b, random_state=seed)  # whole union: every item once
    assert sorted(full.items) == sorted(set(a) | set(b)) and full.items[:10] == il.items


def test_team_draft_length_and_seeds_differ():
    a, b = list(range(10)), list(range(10))[::-1]
    assert len(team_draft_interleave(a, b, length=4, random_state=0).items) == 4
    outs = {team_draft_interleave(a, b, random_state=s).teams for s in range(20)}
    assert len(outs) > 1
    with pytest.raises(ValueError, match="duplicate"):
        team_draft_interleave([1, 1, 2], [2, 3])


def test_balanced_interleave_hand_case():
    a, b = [1, 2, 3, 4], [3, 5, 1, 6]
    outs = {balanced_interleave(a, b, random_state=s).items for s in range(20)}
    assert outs == {(1, 3, 2, 5, 4, 6), (3, 1, 5, 2, 6, 4)}
    il = balanced_interleave(a, b, random_state=0)
    assert len(set(il.items)) == len(il.items)


def test_credit_hand_case():
    # positions:       1    2    3    4    5
    teams = ["A", "B", "B", "A", "B"]
    clicked = [True, False, True, True, False]
    assert team_draft_credit(teams, clicked) == (2, 1)
    # Joachims: A=[1,2,3,4], B=[3,5,1,6], list (1,3,2,5,4,6), clicks on 3 and 5;
    # lowest click is item 5: rank 2 in B, absent from A -> k = 2; A's top 2 = {1,2} has no
    # click, B's top 2 = {3,5} has both -> B wins 0:2
    assert balanced_credit([1, 2, 3, 4], [3, 5, 1, 6], (1, 3, 2, 5, 4, 6), [3, 5]) == (0, 2)
    # click on item 1 only: rank 1 in A, 3 in B -> k = 1: A's top 1 = {1} -> 1:0
    assert balanced_credit([1, 2, 3, 4], [3, 5, 1, 6], (1, 3, 2, 5, 4, 6), [1]) == (1, 0)
    with pytest.raises(ValueError, match="positions"):
        team_draft_credit(["A"], [True, False])
    with pytest.raises(ValueError, match="only 'A' and 'B'"):
        team_draft_credit(["A", "C"], [True, False])


def test_interleaving_analysis_counts_and_sign_test():
    ca = np.array([1, 0, 2, 1, 0, 0, 3])
    cb = np.array([0, 1, 2, 0, 0, 1, 0])
    users = np.array([1, 1, 2, 3, 3, 4, 5])
    res = InterleavingAnalysis(n_bootstrap=200, random_state=0).analyze(ca, cb, users)
    assert (res.wins, res.ties, res.losses) == (3, 1, 2)
    assert res.n_requests == 7 and res.n_requests_with_clicks == 6
    assert res.preference == pytest.approx((3 + 0.5) / 6 - 0.5)
    # users: 1 -> 1:1 tie, 2 -> 2:2 tie, 3 -> 1:0 win, 4 -> 0:1 loss, 5 -> 3:0 win
    assert (res.user_wins, res.user_ties, res.user_losses) == (2, 2, 1) and res.n_users == 5
    assert res.p_value == pytest.approx(stats.binomtest(2, 3, 0.5).pvalue)


def test_interleaving_detects_better_ranker():
    rng = np.random.default_rng(0)
    users = rng.integers(0, 500, 5000)
    res = InterleavingAnalysis(random_state=1).analyze(rng.poisson(0.5, 5000), rng.poisson(0.4, 5000), users)
    assert res.preference > 0 and res.ci_low > 0 and res.p_value < 0.01
    assert res.ci_low < res.preference < res.ci_high
    aa = InterleavingAnalysis(random_state=1).analyze(rng.poisson(0.5, 5000), rng.poisson(0.5, 5000), users)
    assert aa.ci_low < 0 < aa.ci_high
    with pytest.raises(ValueError, match="`credit_b` contains 1 negative"):
        InterleavingAnalysis().analyze([1, 0], [0, -1])
    with pytest.raises(ValueError, match="user_ids"):
        InterleavingAnalysis().analyze([1, 0], [0, 1], [1, 2, 3])


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


def test_interleaving_mart_outcome_without_events_is_null_not_nan():
    """A log with clicks but no purchases: the purchases row has no defined preference,
    and a NaN would pass as a number in SQL (DuckDB sorts NaN above every value)."""
    import pyarrow as pa

    from receval.experiments.marts import interleaving_results

    requests = pa.table({"user_id": [1, 2, 3, 4], "clicks_a": [1, 0, 2, 1], "clicks_b": [0, 1, 0, 1],
                         "purchases_a": [0, 0, 0, 0], "purchases_b": [0, 0, 0, 0]})
    rows = {r["outcome"]: r for r in interleaving_results(requests, "a", "b", n_bootstrap=200).to_pylist()}
    assert rows["clicks"]["preference"] == pytest.approx((2 + 0.5 * 1) / 4 - 0.5)
    assert rows["purchases"]["wins"] == 0
    for column in ("preference", "std_error", "ci_low", "ci_high", "user_preference"):
        assert rows["purchases"][column] is None, column
