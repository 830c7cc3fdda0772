"""Retrieval and the serving policies, vectorised over the requests of a day.

Every function works on an (n_requests, C) matrix of candidate item indices and returns
per-request rankings as (n, K) matrices of *candidate columns*, so propensities can be
computed exactly from the same candidate set that is written to the truth.

Policies
--------
prod_v1
    epsilon-greedy: with probability 1 - eps the top-K candidates by the production score,
    otherwise a uniformly random ordered K-subset. Exact marginal propensity of candidate i
    at position k: ``(1 - eps) * 1[greedy_rank(i) = k] + eps / C``.
uniform_random
    A uniformly random ordered K-subset: propensity ``1 / C`` everywhere.
interleaved
    Team-draft interleaving (Radlinski et al., 2008) of prod_v1's and challenger_v1's
    greedy rankings; propensity unknown (null).
fallback_popular
    Top-K candidates by global popularity (served when the model times out); propensity null.
"""
from __future__ import annotations

import numpy as np

POLICIES = ("prod_v1", "uniform_random", "interleaved", "fallback_popular")
TEAMS = ("A", "B")


def sample_candidates(rng: np.random.Generator, weights: np.ndarray, n: int, c: int) -> np.ndarray:
    """Draw ``c`` distinct items per request with probability proportional to ``weights``.

    Sampling is with replacement, then duplicated cells within a row are redrawn until
    every row is distinct; with C much smaller than the catalogue this converges in a few
    rounds and stays fully vectorised.
    """
    p = weights / weights.sum()
    cand = rng.choice(len(p), size=(n, c), p=p)
    while True:
        cand.sort(axis=1)
        dup = np.zeros_like(cand, dtype=bool)
        dup[:, 1:] = cand[:, 1:] == cand[:, :-1]
        n_dup = int(dup.sum())
        if n_dup == 0:
            return cand
        cand[dup] = rng.choice(len(p), size=n_dup, p=p)


def greedy_order(scores: np.ndarray) -> np.ndarray:
    """Candidate columns sorted by descending score (ties: lower column first)."""
    return np.argsort(-scores, axis=1, kind="stable")


def random_order(rng: np.random.Generator, n: int, c: int, k: int) -> np.ndarray:
    """A uniformly random ordered K-subset of the C columns per row."""
    return np.argsort(rng.random((n, c)), axis=1)[:, :k]


def ranks_of(order: np.ndarray) -> np.ndarray:
    """Inverse permutation: ``ranks[r, j]`` is the 0-based greedy rank of column j."""
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.broadcast_to(np.arange(order.shape[1]), order.shape), axis=1)
    return ranks


def epsilon_greedy(rng: np.random.Generator, scores: np.ndarray, k: int, eps: float):
    """Serve prod_v1 and return (shown columns (n, K), exact propensities (n, K)).

    The propensity is the marginal probability of the item at that position given the
    candidate set, not the probability of the realised branch: it is the quantity an IPS
    estimator needs.
    """
    n, c = scores.shape
    order = greedy_order(scores)
    shown = order[:, :k].copy()
    explore = rng.random(n) < eps
    shown[explore] = random_order(rng, int(explore.sum()), c, k)
    greedy_rank = np.take_along_axis(ranks_of(order), shown, axis=1)
    propensity = (1 - eps) * (greedy_rank == np.arange(k)[None, :]) + eps / c
    return shown, propensity


def team_draft(rng: np.random.Generator, order_a: np.ndarray, order_b: np.ndarray, k: int):
    """Team-draft interleaving of two full rankings; returns (shown columns, team codes).

    Per step the team with fewer picks (a coin flip on ties) adds its highest-ranked column
    not yet shown. Loops over the K positions only; each step is vectorised over requests.
    """
    n, c = order_a.shape
    rows = np.arange(n)
    taken = np.zeros((n, c), bool)
    picks = np.zeros((n, 2), int)
    shown = np.empty((n, k), int)
    team = np.empty((n, k), np.int32)
    for pos in range(k):
        b_turn = (picks[:, 1] < picks[:, 0]) | ((picks[:, 1] == picks[:, 0]) & (rng.random(n) < 0.5))
        order = np.where(b_turn[:, None], order_b, order_a)
        first_free = np.argmax(~np.take_along_axis(taken, order, axis=1), axis=1)
        col = order[rows, first_free]
        taken[rows, col] = True
        shown[:, pos] = col
        team[:, pos] = b_turn
        picks[rows, b_turn.astype(int)] += 1
    return shown, team
