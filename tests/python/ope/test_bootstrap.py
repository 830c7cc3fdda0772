"""Seeded, vectorised bootstrap."""
import numpy as np
import pytest

from receval import ope
from receval.ope._core import ratio_stat
from receval.ope.synthetic import make_bandit, make_ranking


def test_seeded_and_reproducible():
    b = make_bandit(1500, random_state=4)
    est = ope.SNIPS(n_bootstrap=300, random_state=42)
    a = est.estimate_policy_value(b.reward, b.p_log, b.p_target)
    c = est.estimate_policy_value(b.reward, b.p_log, b.p_target)
    assert (a.bootstrap_ci_low, a.bootstrap_ci_high) == (c.bootstrap_ci_low, c.bootstrap_ci_high)
    assert a.n_bootstrap == 300
    assert a.bootstrap_ci_low < a.estimate < a.bootstrap_ci_high
    # bootstrap and analytic intervals agree roughly at this n
    assert a.bootstrap_ci_high - a.bootstrap_ci_low == pytest.approx(a.ci_high - a.ci_low, rel=0.3)


def test_replicates_match_a_loop():
    rng = np.random.default_rng(0)
    comp = np.column_stack([rng.random(50), np.ones(50)])
    reps = ope.bootstrap_replicates(comp, ratio_stat(0, 1), n_bootstrap=20, random_state=7)
    g = np.random.default_rng(7)
    idx = g.integers(0, 50, size=(20, 50))
    np.testing.assert_allclose(reps, comp[idx, 0].mean(axis=1))


@pytest.mark.parametrize("n_units", [50, 300_000])   # 300,000: several chunks of draws
def test_an_int_seed_reuses_the_draws_of_a_generator_with_that_seed(n_units):
    """An int seed takes the resample counts (drawn once, kept for the next call); a
    Generator gathers the resampled rows. Same draws, so the same replicates up to rounding."""
    rng = np.random.default_rng(0)
    comp = np.column_stack([rng.random(n_units), rng.random(n_units) + 0.5])
    stat = ratio_stat(0, 1)
    counted = ope.bootstrap_replicates(comp, stat, n_bootstrap=40, random_state=7)
    gathered = ope.bootstrap_replicates(comp, stat, n_bootstrap=40, random_state=np.random.default_rng(7))
    np.testing.assert_allclose(counted, gathered, rtol=1e-12)
    assert not np.array_equal(counted, ope.bootstrap_replicates(comp, stat, n_bootstrap=40, random_state=8))
    # the kept counts serve another statistic of the same size and seed
    np.testing.assert_allclose(ope.bootstrap_replicates(comp[:, ::-1], stat, n_bootstrap=40, random_state=7),
                               1 / gathered, rtol=1e-12)


def test_more_units_than_a_chunk_keep_their_counts_for_the_next_estimator():
    """Past 4M units (a large preset's overall cell) an int seed still draws the counts once,
    a replicate at a time from the seeded generator, and the next statistic reuses them."""
    n = (1 << 22) + 10
    units = np.column_stack([np.arange(n) % 7 == 0, np.ones(n)]).astype(float)
    stat = ratio_stat(0, 1)
    reps = ope.bootstrap_replicates(units, stat, n_bootstrap=3, random_state=5)
    g = np.random.default_rng(5)
    expected = [units[g.integers(0, n, n), 0].mean() for _ in range(3)]
    np.testing.assert_allclose(reps, expected, rtol=1e-12)
    from receval.ope.bootstrap import _resample_counts

    assert _resample_counts.cache_info().currsize == 1 and _resample_counts(5, n, 3).dtype == np.uint8


def test_group_bootstrap_resamples_groups():
    comp = np.array([[1.0, 1], [1.0, 1], [0.0, 1], [0.0, 1]])
    reps = ope.bootstrap_replicates(comp, ratio_stat(0, 1), group_ids=[0, 0, 1, 1], n_bootstrap=200, random_state=1)
    assert set(np.round(reps, 6)) <= {0.0, 0.5, 1.0}  # only whole groups move


def test_ranking_bootstrap_over_lists():
    r = make_ranking(1000, random_state=6)
    res = ope.PositionBasedIPS(examination=r.examination, n_bootstrap=200).estimate_policy_value(
        r.click, r.p_log_positions, r.p_target_positions, group_ids=r.list_id
    )
    assert res.bootstrap_ci_low < res.estimate < res.bootstrap_ci_high


def test_all_bootstrap_replicates_undefined_gives_nan():
    lo, hi = ope.bootstrap_ci(np.zeros((5, 2)), ratio_stat(0, 1), n_bootstrap=10, random_state=0)
    assert np.isnan(lo) and np.isnan(hi)
