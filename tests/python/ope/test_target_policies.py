"""Target ranking policies as position marginals: top-K, Plackett-Luce, table, PBM value."""
import numpy as np
import pandas as pd
import pytest

from receval.ope.target_policies import (
    plackett_luce_marginals,
    plackett_luce_marginals_exact,
    slot_marginals_table,
    top_k_marginals,
)


def _softmax(s):
    e = np.exp(s - s.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# -- top-K ---------------------------------------------------------------------------------


def test_top_k_by_hand_with_tie():
    # row 0: scores 0.1, 0.9, 0.5, 0.9 -> ranks: col 1 (tie with col 3, lower index first), col 3, col 2
    # row 1: 3, 2, 1, 0 -> cols 0, 1, 2
    scores = [[0.1, 0.9, 0.5, 0.9], [3.0, 2.0, 1.0, 0.0]]
    got = top_k_marginals(scores, 3)
    expected = np.zeros((2, 4, 3))
    expected[0, [1, 3, 2], [0, 1, 2]] = 1.0
    expected[1, [0, 1, 2], [0, 1, 2]] = 1.0
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got.sum(axis=1), 1.0)  # one candidate per position
    assert got.sum(axis=2).max() == 1.0  # each candidate at most once


# -- Plackett-Luce -------------------------------------------------------------------------


def test_pl_exact_by_hand():
    # weights 1, 2, 3 (total 6), k = 2
    # position 1: w / 6 = 1/6, 2/6, 3/6
    # position 2, item 0: (2/6)(1/4) + (3/6)(1/3) = 1/12 + 1/6 = 1/4
    #             item 1: (1/6)(2/5) + (3/6)(2/3) = 1/15 + 1/3 = 2/5
    #             item 2: (1/6)(3/5) + (2/6)(3/4) = 1/10 + 1/4 = 7/20
    got = plackett_luce_marginals_exact(np.log([[1.0, 2.0, 3.0]]), 2)
    expected = [[[1 / 6, 1 / 4], [2 / 6, 2 / 5], [3 / 6, 7 / 20]]]
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    # temperature 2 on scores 2 log w gives the same weights
    np.testing.assert_allclose(
        plackett_luce_marginals_exact(2 * np.log([[1.0, 2.0, 3.0]]), 2, temperature=2.0), expected, rtol=1e-12
    )


def test_pl_monte_carlo_matches_exact():
    scores = np.random.default_rng(7).normal(0.0, 1.5, size=(3, 6))
    exact = plackett_luce_marginals_exact(scores, 4)
    n_samples = 100_000
    mc = plackett_luce_marginals(scores, 4, n_samples=n_samples, random_state=1)
    # Each Rao-Blackwellised term lies in [0, 1], so by Hoeffding P(|error| > t) <=
    # 2 exp(-2 S t^2): at S = 1e5, t = 0.01 that is 4e-9 per entry (3e-7 over the 72).
    assert np.abs(mc - exact).max() < 0.01
    np.testing.assert_array_equal(mc[:, :, 0], _softmax(scores))  # position 1 is exact
    np.testing.assert_allclose(exact[:, :, 0], _softmax(scores), rtol=1e-12)
    np.testing.assert_allclose(mc.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(exact.sum(axis=1), 1.0, atol=1e-12)


@pytest.mark.parametrize("k", [1, 5])
def test_pl_edge_list_lengths(k):
    scores = np.random.default_rng(3).normal(size=(4, 5))
    mc = plackett_luce_marginals(scores, k, n_samples=50_000)
    exact = plackett_luce_marginals_exact(scores, k)
    assert np.abs(mc - exact).max() < 0.015  # Hoeffding at S = 5e4: 2 exp(-22.5) per entry
    if k == 1:
        np.testing.assert_array_equal(mc[:, :, 0], _softmax(scores))
    else:  # a full permutation: every candidate somewhere
        np.testing.assert_allclose(exact.sum(axis=2), 1.0, atol=1e-12)


def test_pl_temperature_limits():
    rng = np.random.default_rng(11)
    scores = np.stack([rng.permutation(6) * 0.1 for _ in range(3)])  # distinct, gaps 0.1
    top = top_k_marginals(scores, 4)
    # T = 1e-3: log-weight gaps >= 100, so every other choice has probability <= 6 e^-100
    for temperature in (1e-3, 1e-8):  # 1e-8: weights underflow; must stay finite and exact
        np.testing.assert_allclose(plackett_luce_marginals(scores, 4, temperature=temperature), top, atol=1e-12)
        np.testing.assert_allclose(plackett_luce_marginals_exact(scores, 4, temperature=temperature), top, atol=1e-12)
    # T = 1e6: weights equal to 1e-6, uniform lists: every candidate 1/6 at every position
    np.testing.assert_allclose(plackett_luce_marginals_exact(scores, 4, temperature=1e6), 1 / 6, atol=1e-5)
    mc = plackett_luce_marginals(scores, 4, temperature=1e6, n_samples=20_000)
    assert np.abs(mc - 1 / 6).max() < 0.02  # Hoeffding at S = 2e4: 2 exp(-16) per entry


def test_pl_determinism_and_chunking():
    scores = np.random.default_rng(5).normal(size=(7, 9))
    ref = plackett_luce_marginals(scores, 4, n_samples=64, random_state=42)
    np.testing.assert_array_equal(plackett_luce_marginals(scores, 4, n_samples=64, random_state=42), ref)
    for chunk_size, n_jobs in [(1, 1), (2, 2), (3, 4), (100, 1)]:
        got = plackett_luce_marginals(scores, 4, n_samples=64, random_state=42, chunk_size=chunk_size, n_jobs=n_jobs)
        np.testing.assert_array_equal(got, ref)
    other = plackett_luce_marginals(scores, 4, n_samples=64, random_state=43)
    assert np.abs(other - ref).max() > 1e-3
    # a request's marginals depend on its row, not on the other rows
    np.testing.assert_array_equal(plackett_luce_marginals(scores[:3], 4, n_samples=64, random_state=42), ref[:3])


# -- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize("fn", [top_k_marginals, plackett_luce_marginals, plackett_luce_marginals_exact])
def test_score_and_k_errors(fn):
    good = [[0.1, 0.2, 0.3], [0.3, 0.2, 0.1]]
    with pytest.raises(ValueError, match=r"`scores` contains 1 NaN.*\[1, 0\]"):
        fn([[0.1, 0.2, 0.3], [np.nan, 0.2, 0.1]], 2)
    with pytest.raises(ValueError, match="`scores` contains 1 NaN/null or infinite.*infinite"):
        fn([[0.1, np.inf, 0.3]], 2)
    with pytest.raises(ValueError, match="`scores` must be 2-dimensional"):
        fn([0.1, 0.2, 0.3], 2)
    with pytest.raises(ValueError, match="`scores` is empty"):
        fn(np.zeros((0, 3)), 2)
    with pytest.raises(ValueError, match=r"`k` .* <= the number of candidates 3, got 4"):
        fn(good, 4)
    with pytest.raises(ValueError, match="`k` must be an integer >= 1, got 0"):
        fn(good, 0)
    with pytest.raises(ValueError, match="`k` must be an integer"):
        fn(good, 2.0)


@pytest.mark.parametrize("fn", [plackett_luce_marginals, plackett_luce_marginals_exact])
@pytest.mark.parametrize("temperature", [0.0, -1.0, np.nan, np.inf, "1"])
def test_temperature_errors(fn, temperature):
    with pytest.raises(ValueError, match="`temperature`"):
        fn([[0.1, 0.2, 0.3]], 2, temperature=temperature)


def test_sampling_and_enumeration_errors():
    with pytest.raises(ValueError, match="`n_samples` must be an integer >= 1"):
        plackett_luce_marginals([[0.1, 0.2]], 1, n_samples=0)
    with pytest.raises(ValueError, match="`chunk_size` must be an integer >= 1"):
        plackett_luce_marginals([[0.1, 0.2]], 1, chunk_size=0)
    with pytest.raises(ValueError, match="`random_state`"):
        plackett_luce_marginals([[0.1, 0.2]], 1, random_state=-1)
    with pytest.raises(ValueError, match="at most 8 candidates.*has 9"):
        plackett_luce_marginals_exact(np.zeros((1, 9)), 2)
    with pytest.raises(ValueError, match="`temperature` = 1e-310 is too small"):
        plackett_luce_marginals([[0.0, 1.0]], 1, temperature=1e-310)


# -- table ---------------------------------------------------------------------------------


def test_slot_marginals_table():
    marg = np.zeros((2, 3, 2))
    marg[0, 2, 0] = marg[0, 0, 1] = 1.0  # request 10: item 9 at position 1, item 7 at 2
    marg[1, :, :] = [[0.5, 0.25], [0.5, 0.25], [0.0, 0.5]]
    table = slot_marginals_table([10, 11], [[7, 8, 9], [1, 2, 3]], marg)
    assert list(table.columns) == ["request_id", "item_id", "position", "target_probability"]
    assert table.values.tolist() == [
        [10, 9, 1, 1.0], [10, 7, 2, 1.0],
        [11, 1, 1, 0.5], [11, 2, 1, 0.5],
        [11, 1, 2, 0.25], [11, 2, 2, 0.25], [11, 3, 2, 0.5],
    ]
    assert table["position"].dtype == np.int64 and table["target_probability"].dtype == np.float64
    # 2-D request ids, and the probability floor
    table = slot_marginals_table([[10] * 3, [11] * 3], [[7, 8, 9], [1, 2, 3]], marg, min_probability=0.3)
    assert len(table) == 5 and table["target_probability"].min() == 0.5


def test_slot_marginals_table_of_pl_fills_positions():
    scores = np.random.default_rng(2).normal(size=(5, 8))
    items = np.arange(40).reshape(5, 8) + 100
    table = slot_marginals_table(np.arange(5), items, plackett_luce_marginals(scores, 3))
    assert not table.duplicated(["request_id", "item_id", "position"]).any()
    np.testing.assert_allclose(table.groupby(["request_id", "position"])["target_probability"].sum(), 1.0)
    assert len(table) == 5 * 8 * 3  # every probability of PL is > 0


def test_slot_marginals_table_errors():
    marg = np.full((2, 3, 1), 1 / 3)
    items = [[7, 8, 9], [1, 2, 3]]
    with pytest.raises(ValueError, match=r"`item_ids` must have shape .* \(2, 3\).* got \(2, 2\)"):
        slot_marginals_table([10, 11], [[7, 8], [1, 2]], marg)
    with pytest.raises(ValueError, match=r"`request_ids` must have shape \(2,\)"):
        slot_marginals_table([10, 11, 12], items, marg)
    with pytest.raises(ValueError, match="`request_ids` is 2-D but not constant"):
        slot_marginals_table([[10, 10, 10], [11, 12, 11]], items, marg)
    with pytest.raises(ValueError, match="`request_ids` has a request on more than one row"):
        slot_marginals_table([10, 10], items, marg)
    with pytest.raises(ValueError, match="`item_ids` repeats an item"):
        slot_marginals_table([10, 11], [[7, 8, 7], [1, 2, 3]], marg)
    with pytest.raises(ValueError, match="`item_ids` contains null"):
        slot_marginals_table([10, 11], [[7, 8, None], [1, 2, 3]], marg)
    with pytest.raises(ValueError, match="`marginals` must be 3-dimensional"):
        slot_marginals_table([10, 11], items, marg[..., 0])
    with pytest.raises(ValueError, match=r"`marginals` must hold probabilities in \[0, 1\]"):
        slot_marginals_table([10, 11], items, marg * 4)
    with pytest.raises(ValueError, match="`min_probability`"):
        slot_marginals_table([10, 11], items, marg, min_probability=1.0)
