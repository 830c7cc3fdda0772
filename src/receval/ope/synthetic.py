"""Small synthetic logged-bandit and ranking problems with an exactly known policy value.

Used by the tests and the benchmark to check the estimators against the truth. Contexts
are drawn uniformly from a finite set, so the true value of a policy is an exact finite
sum, not a Monte Carlo approximation. Everything is vectorised numpy and seeded.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SyntheticBandit", "SyntheticRanking", "make_bandit", "make_ranking"]


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class SyntheticBandit:
    """Logged contextual-bandit data. Per round: ``context`` (index into the finite
    context set), ``features``, ``action``, ``reward`` (Bernoulli), ``p_log``, ``p_target``;
    per context: ``context_features``, ``q`` (true mean reward of each action),
    ``logging_dist`` and ``target_dist``. ``true_value`` is the target policy's exact value."""

    context: np.ndarray
    features: np.ndarray
    action: np.ndarray
    reward: np.ndarray
    p_log: np.ndarray
    p_target: np.ndarray
    context_features: np.ndarray
    q: np.ndarray
    logging_dist: np.ndarray
    target_dist: np.ndarray
    true_value: float

    @property
    def n_actions(self) -> int:
        return self.q.shape[1]

    def q_inputs(self, q_table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(q_hat_logged, q_hat_target)`` for a per-context reward table ``(M, K)``."""
        q_log = q_table[self.context, self.action]
        q_tgt = (self.target_dist * q_table).sum(axis=1)[self.context]
        return q_log, q_tgt


def make_bandit(
    n_rounds: int,
    *,
    n_actions: int = 5,
    n_contexts: int = 200,
    n_features: int = 3,
    epsilon: float = 0.2,
    target_temperature: float = 2.0,
    random_state: int = 0,
    reward_random_state: int | None = None,
) -> SyntheticBandit:
    """Logged data from an epsilon-softmax logging policy (full support) and the value of
    a softmax target policy that favours high-reward actions.

    The world (contexts, reward function, policies) depends on ``random_state`` only; the
    logged sample depends on ``reward_random_state`` (default: ``random_state``), so
    replications of the same world use the same ``random_state`` and different
    ``reward_random_state``.
    """
    world = np.random.default_rng(random_state)
    xm = world.normal(size=(n_contexts, n_features))
    theta = world.normal(size=(n_features, n_actions))
    bias = world.normal(-1.0, 0.5, size=n_actions)
    logits = xm @ theta + bias
    q = 1.0 / (1.0 + np.exp(-logits))
    phi = world.normal(size=(n_features, n_actions))
    logging = (1 - epsilon) * _softmax(xm @ phi) + epsilon / n_actions
    target = _softmax(target_temperature * logits)
    true_value = float((target * q).sum(axis=1).mean())

    rng = np.random.default_rng(random_state if reward_random_state is None else reward_random_state)
    ctx = rng.integers(0, n_contexts, size=n_rounds)
    cdf = np.cumsum(logging, axis=1)
    cdf[:, -1] = 1.0
    u = rng.random(n_rounds)
    action = np.zeros(n_rounds, dtype=np.int64)
    for k in range(n_actions - 1):  # inverse-CDF sampling without an (n, K) temporary
        action += u > cdf[ctx, k]
    reward = (rng.random(n_rounds) < q[ctx, action]).astype(np.float64)
    return SyntheticBandit(
        context=ctx,
        features=xm[ctx],
        action=action,
        reward=reward,
        p_log=logging[ctx, action],
        p_target=target[ctx, action],
        context_features=xm,
        q=q,
        logging_dist=logging,
        target_dist=target,
        true_value=true_value,
    )


@dataclass(frozen=True)
class SyntheticRanking:
    """Logged ranked lists, one row per shown slot: ``list_id``, ``item``, ``position``
    (0-based), ``click``; ``p_log`` / ``p_target``: marginal probability of this item at
    this position under the logging / target policy; ``p_log_positions`` /
    ``p_target_positions``: ``(n_slots, K)`` probabilities of this slot's item at each
    position; ``examination`` (theta). ``true_value``: exact expected clicks per list of
    the target policy."""

    list_id: np.ndarray
    item: np.ndarray
    position: np.ndarray
    click: np.ndarray
    p_log: np.ndarray
    p_target: np.ndarray
    p_log_positions: np.ndarray
    p_target_positions: np.ndarray
    examination: np.ndarray
    true_value: float


def _marginals(scores: np.ndarray, eps: float, n_positions: int) -> tuple[np.ndarray, np.ndarray]:
    """Epsilon-greedy ranking marginals ``(M, C, K)``: (1-eps) 1[rank_i = k] + eps / C."""
    m, c = scores.shape
    order = np.argsort(-scores, axis=1)  # order[m, r] = item at rank r
    rank = np.argsort(order, axis=1)  # rank[m, i]
    marg = np.full((m, c, n_positions), eps / c)
    mi, ii = np.nonzero(rank < n_positions)
    marg[mi, ii, rank[mi, ii]] += 1 - eps
    return marg, order


def make_ranking(
    n_lists: int,
    *,
    n_candidates: int = 8,
    n_positions: int = 4,
    n_contexts: int = 100,
    epsilon: float = 0.3,
    target_epsilon: float = 0.0,
    random_state: int = 0,
    sample_random_state: int | None = None,
) -> SyntheticRanking:
    """Epsilon-greedy logging over a candidate set with position-based (PBM) clicks.

    With probability ``1 - epsilon`` the logging policy shows its top ``n_positions``
    items by its own score, otherwise a uniformly random permutation, so that
    ``P(item i at position k) = (1 - eps) 1[rank_i = k] + eps / C``. The target policy is
    epsilon-greedy (``target_epsilon``, 0 = deterministic) on the true attraction. Clicks
    are ``Bernoulli(theta_k * alpha(x, i))``. The world depends on ``random_state``, the
    logged lists on ``sample_random_state`` (default: ``random_state``).
    """
    world = np.random.default_rng(random_state)
    c, kpos = n_candidates, n_positions
    attraction = 1.0 / (1.0 + np.exp(-world.normal(-1.0, 1.0, size=(n_contexts, c))))
    log_scores = np.log(attraction / (1 - attraction)) + world.normal(0, 1.5, size=(n_contexts, c))
    theta = 1.0 / np.arange(1, kpos + 1) ** 0.8
    mu, log_order = _marginals(log_scores, epsilon, kpos)
    pi, _ = _marginals(attraction, target_epsilon, kpos)
    true_value = float(np.einsum("mck,mc,k->m", pi, attraction, theta).mean())

    rng = np.random.default_rng(random_state if sample_random_state is None else sample_random_state)
    ctx = rng.integers(0, n_contexts, size=n_lists)
    explore = rng.random(n_lists) < epsilon
    shown = log_order[ctx, :kpos].copy()
    ne = int(explore.sum())
    if ne:
        shown[explore] = np.argsort(rng.random((ne, c)), axis=1)[:, :kpos]
    list_id = np.repeat(np.arange(n_lists), kpos)
    position = np.tile(np.arange(kpos), n_lists)
    item = shown.reshape(-1)
    sctx = ctx[list_id]
    click = (rng.random(item.size) < theta[position] * attraction[sctx, item]).astype(np.float64)
    return SyntheticRanking(
        list_id=list_id,
        item=item,
        position=position,
        click=click,
        p_log=mu[sctx, item, position],
        p_target=pi[sctx, item, position],
        p_log_positions=mu[sctx, item],
        p_target_positions=pi[sctx, item],
        examination=theta,
        true_value=true_value,
    )
