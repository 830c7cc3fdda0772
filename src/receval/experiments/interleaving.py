"""Interleaving: team-draft and balanced merges of two rankings, and their analysis."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

from receval import _validation as v
from receval.experiments.results import Interleaving, InterleavingResult


def _check_ranking(r: Sequence[Any], name: str) -> list[Any]:
    r = list(r)
    if len(set(r)) != len(r):
        raise ValueError(f"`{name}` contains duplicate items")
    return r


def _length(a, b, length):
    total = len(set(a) | set(b))
    if length is None:
        return total
    return min(v.check_int(length, "length", minimum=1), total)


def team_draft_interleave(ranking_a, ranking_b, length: int | None = None,
                          random_state=None) -> Interleaving:
    """Team-draft interleaving of two rankings (Radlinski, Kurup & Joachims 2008).

    Each round, the team with fewer picks so far (a fair coin when tied) adds its
    highest-ranked item not yet in the list, and that item is credited to it. Hence
    the teams stay balanced within one pick while both rankings have items left, and
    after ``k`` positions the list contains the top ``floor(k/2)`` of both rankings.

    Parameters
    ----------
    ranking_a, ranking_b : sequence of hashable
        Rankings (best first), without duplicates.
    length : int, optional
        Length of the interleaved list (default: all distinct items).
    random_state : int, Generator or None
        Seed of the coin flips; the same seed gives the same interleaving.

    Returns
    -------
    Interleaving
        ``items`` and ``teams`` ("A" / "B") per position.
    """
    a, b = _check_ranking(ranking_a, "ranking_a"), _check_ranking(ranking_b, "ranking_b")
    rng = v.check_random_state(random_state)
    n = _length(a, b, length)
    items, teams, seen = [], [], set()
    ia = ib = na = nb = 0
    while len(items) < n:
        while ia < len(a) and a[ia] in seen:
            ia += 1
        while ib < len(b) and b[ib] in seen:
            ib += 1
        a_ok, b_ok = ia < len(a), ib < len(b)
        if not (a_ok or b_ok):
            break
        if a_ok and (not b_ok or na < nb or (na == nb and rng.random() < 0.5)):
            item, team = a[ia], "A"
            na += 1
        else:
            item, team = b[ib], "B"
            nb += 1
        items.append(item)
        teams.append(team)
        seen.add(item)
    return Interleaving(items=tuple(items), teams=tuple(teams), method="team_draft")


def balanced_interleave(ranking_a, ranking_b, length: int | None = None,
                        random_state=None) -> Interleaving:
    """Balanced interleaving (Joachims 2002; Chapelle et al. 2012, section 2.1).

    A coin decides which ranking leads; then the ranking whose pointer is behind (the
    leader on ties) places its next item unless it is already in the list, so at every
    prefix the list is the union of the top ``k_a`` of A and top ``k_b`` of B with
    ``|k_a - k_b| <= 1``. ``teams`` records which pointer placed each item; credit is
    assigned with :func:`balanced_credit`, not by team.
    """
    a, b = _check_ranking(ranking_a, "ranking_a"), _check_ranking(ranking_b, "ranking_b")
    rng = v.check_random_state(random_state)
    n = _length(a, b, length)
    a_first = rng.random() < 0.5
    items, teams, seen = [], [], set()
    ka = kb = 0
    while len(items) < n and (ka < len(a) or kb < len(b)):
        take_a = ka < kb or (ka == kb and a_first)
        if take_a and ka >= len(a):
            take_a = False
        elif not take_a and kb >= len(b):
            take_a = True
        item = a[ka] if take_a else b[kb]
        if take_a:
            ka += 1
        else:
            kb += 1
        if item not in seen:
            items.append(item)
            teams.append("A" if take_a else "B")
            seen.add(item)
    return Interleaving(items=tuple(items), teams=tuple(teams), method="balanced")


def team_draft_credit(teams, clicked) -> tuple[int, int]:
    """Clicks credited to A and to B in one team-draft request.

    Parameters
    ----------
    teams : sequence of {"A", "B"}
        Team of each position.
    clicked : sequence of bool
        Whether the item at each position was clicked (same length).
    """
    teams = list(teams)
    clicked = np.asarray(clicked, dtype=bool)
    if len(teams) != clicked.size:
        raise ValueError(f"`teams` has {len(teams)} positions but `clicked` has {clicked.size}")
    bad = set(teams) - {"A", "B"}
    if bad:
        raise ValueError(f"`teams` must contain only 'A' and 'B', got {sorted(map(str, bad))}")
    t = np.asarray(teams)
    return int(np.sum(clicked & (t == "A"))), int(np.sum(clicked & (t == "B")))


def balanced_credit(ranking_a, ranking_b, interleaved_items, clicked_items) -> tuple[int, int]:
    """Joachims' credit for one balanced-interleaving request.

    With ``c`` the lowest clicked item of the interleaved list and ``k`` the smaller of its
    ranks in A and B, A gets the clicks among A's top ``k`` and B those among B's top ``k``.
    """
    a, b = list(ranking_a), list(ranking_b)
    inter = list(interleaved_items)
    clicked = set(clicked_items)
    if not clicked:
        return 0, 0
    unknown = clicked - set(inter)
    if unknown:
        raise ValueError(f"clicked items not in the interleaved list: {sorted(map(str, unknown))}")
    lowest = max(inter.index(c) for c in clicked)
    c = inter[lowest]
    ranks = [r.index(c) + 1 for r in (a, b) if c in r]
    k = min(ranks)
    return len(clicked & set(a[:k])), len(clicked & set(b[:k]))


class InterleavingAnalysis:
    r"""Wins / ties / losses, preference, sign test and bootstrap interval for interleaving.

    Per request, ``credit_a`` and ``credit_b`` are the clicks credited to each ranker
    (:func:`team_draft_credit` or :func:`balanced_credit`). Over the requests with at least
    one click, A *wins* when it earned more clicks, *loses* when fewer, *ties* otherwise,
    and the preference is (Chapelle et al. 2012)

    .. math::

        \Delta_{AB} = \frac{\text{wins} + \text{ties}/2}{\text{wins} + \text{ties} + \text{losses}} - 0.5 .

    Requests of one user are correlated and the user is the randomisation unit, so
    inference is at the user level: each user's credits are summed, a user prefers A when
    A earned more of their clicks, and a two-sided binomial sign test of user wins versus
    user losses (ties dropped) gives the p-value. The interval of :math:`\Delta_{AB}` is a
    percentile bootstrap that resamples users (a cluster bootstrap).

    Parameters
    ----------
    alpha : float, default 0.05
    n_bootstrap : int, default 1000
        Replicates (>= 100).
    random_state : int, Generator or None

    References
    ----------
    Radlinski, F., Kurup, M., Joachims, T. (2008). How Does Clickthrough Data Reflect
    Retrieval Quality? CIKM 2008.
    Chapelle, O., Joachims, T., Radlinski, F., Yue, Y. (2012). Large-Scale Validation and
    Analysis of Interleaved Search Evaluation. ACM TOIS 30(1).
    """

    def __init__(self, alpha: float = 0.05, n_bootstrap: int = 1000, random_state=None) -> None:
        self.alpha = v.check_alpha(alpha)
        self.n_bootstrap = v.check_int(n_bootstrap, "n_bootstrap", minimum=100)
        v.check_random_state(random_state)  # validates the type; the generator is built per call
        self.random_state = random_state

    def __repr__(self) -> str:
        return f"InterleavingAnalysis(alpha={self.alpha}, n_bootstrap={self.n_bootstrap})"

    @staticmethod
    def _delta(w, t, l):
        n = w + t + l
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, (w + 0.5 * t) / np.where(n > 0, n, 1) - 0.5, np.nan)

    def analyze(self, credit_a, credit_b, group_ids=None) -> InterleavingResult:
        """Analyse per-request credits.

        Parameters
        ----------
        credit_a, credit_b : array-like of float
            Clicks credited to A and B, one value per interleaved request (>= 0, no NaN).
        group_ids : array-like, optional
            The user of each request: the unit of the bootstrap and the sign test
            (default: every request is its own user).
        """
        ca = v.check_finite(credit_a, "credit_a", nonnegative=True)
        cb = v.check_finite(credit_b, "credit_b", nonnegative=True)
        v.check_lengths(credit_a=ca, credit_b=cb)
        if group_ids is None:
            inv = np.arange(ca.size)
        else:
            inv, _ = v.group_codes(group_ids, n=ca.size, sort=True)
        n_users = int(inv.max()) + 1
        win, loss = ca > cb, ca < cb
        tie = (ca == cb) & (ca + cb > 0)
        uw = np.bincount(inv, weights=win, minlength=n_users)
        ut = np.bincount(inv, weights=tie, minlength=n_users)
        ul = np.bincount(inv, weights=loss, minlength=n_users)
        sa = np.bincount(inv, weights=ca, minlength=n_users)
        sb = np.bincount(inv, weights=cb, minlength=n_users)
        user_win, user_loss = int(np.sum(sa > sb)), int(np.sum(sa < sb))
        user_tie = int(np.sum((sa == sb) & (sa + sb > 0)))
        pref = float(self._delta(win.sum(), tie.sum(), loss.sum()))
        m = user_win + user_loss
        p = float(stats.binomtest(user_win, m, 0.5).pvalue) if m > 0 else 1.0
        rng = v.check_random_state(self.random_state)
        boots = np.empty(self.n_bootstrap)
        for i in range(self.n_bootstrap):
            idx = rng.integers(0, n_users, n_users)
            boots[i] = self._delta(uw[idx].sum(), ut[idx].sum(), ul[idx].sum())
        ok = boots[~np.isnan(boots)]
        if ok.size:
            lo, hi = np.quantile(ok, [self.alpha / 2, 1 - self.alpha / 2])
            se = float(np.std(ok, ddof=1))
        else:
            lo = hi = se = float("nan")
        return InterleavingResult(
            n_requests=int(ca.size), n_requests_with_clicks=int(np.sum(ca + cb > 0)),
            wins=int(win.sum()), ties=int(tie.sum()), losses=int(loss.sum()),
            preference=pref, std_error=se, ci_low=float(lo), ci_high=float(hi),
            n_users=n_users, user_wins=user_win, user_ties=user_tie, user_losses=user_loss,
            user_preference=float(self._delta(user_win, user_tie, user_loss)),
            p_value=p, alpha=self.alpha, n_bootstrap=self.n_bootstrap,
        )
