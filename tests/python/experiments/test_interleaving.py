"""Interleaving: team-draft and balanced merges, credit, and the analysis (bootstrap
preference, sign test)."""
import numpy as np
import pytest
from scipy import stats

from receval.experiments import (
    InterleavingAnalysis, balanced_credit, balanced_interleave, team_draft_credit, team_draft_interleave,
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
    with pytest.raises(ValueError, match="group_ids"):
        InterleavingAnalysis().analyze([1, 0], [0, 1], [1, 2, 3])
