"""One simulated day of traffic: requests, rankings, true probabilities and outcomes.

Everything is vectorised over the day's requests (and their impressions). The order in
which random numbers and ids are drawn is fixed, which is what makes a seed reproducible.
The output is clean events only (with arrival times); faults and duplicates are layered on
top by :mod:`receval.simulate.faults`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from receval.simulate import policy as pol
from receval.simulate.batch import NULL_INT, Batch, Cat
from receval.simulate.config import US_PER_DAY, US_PER_HOUR, US_PER_S, SimConfig
from receval.simulate.experiments import VARIANTS, Arm, EffectAccumulator
from receval.simulate.world import DEVICES, World

SURFACES = ("home", "search", "pdp")
SURFACE_P = (0.6, 0.25, 0.15)
STATUSES = ("ok", "fallback", "error")
FEATURES = ("user_ctr_7d", "item_ctr_1d", "item_price", "item_popularity")
SHADOW_MODEL = "challenger_v1"
_HOURS = np.arange(24)
HOUR_P = 1 + 0.7 * np.cos(2 * np.pi * (_HOURS - 20) / 24)
HOUR_P = HOUR_P / HOUR_P.sum()


class Ids:
    """A monotone int64 id counter (one per id space: events, requests, orders)."""

    def __init__(self, start: int = 1) -> None:
        self.next = start

    def take(self, n: int) -> np.ndarray:
        out = np.arange(self.next, self.next + n, dtype=np.int64)
        self.next += n
        return out


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def arrival(rng: np.random.Generator, ts: np.ndarray, cfg: SimConfig, late: bool = True) -> np.ndarray:
    """Kafka Connect write time: a few seconds to minutes after ts; a share hours-days late."""
    delay = (0.2 + rng.exponential(cfg.delivery_mean_s, len(ts))) * US_PER_S
    if late:
        is_late = rng.random(len(ts)) < cfg.late_share
        delay += is_late * rng.lognormal(np.log(cfg.late_median_h), cfg.late_sigma, len(ts)) * US_PER_HOUR
    return ts + delay.astype(np.int64)


def mixture_delay_s(rng, n, shares, samplers) -> np.ndarray:
    """Draw ``n`` delays (seconds) from a mixture: component c with probability shares[c]."""
    comp = rng.choice(len(shares), n, p=shares)
    out = np.empty(n)
    for c, sample in enumerate(samplers):
        sel = comp == c
        out[sel] = sample(int(sel.sum()))
    return out


@dataclass
class DayOutput:
    """Clean events of one day plus what the truth needs about them."""

    batches: dict[str, Batch]
    impressions_truth: pd.DataFrame
    candidates_truth: pd.DataFrame | None


class FeatureStore:
    """Point-in-time feature state: per-user 7-day and per-item previous-day counts."""

    def __init__(self, n_users: int, n_items: int):
        self.user_imp = np.zeros((7, n_users))
        self.user_clk = np.zeros((7, n_users))
        self.item_imp = np.zeros(n_items)
        self.item_clk = np.zeros(n_items)

    def user_ctr_7d(self, user):
        return (self.user_clk.sum(0)[user] + 1) / (self.user_imp.sum(0)[user] + 20)

    def item_ctr_1d(self, item):
        return (self.item_clk[item] + 1) / (self.item_imp[item] + 20)

    def item_popularity(self, item):
        return np.log1p(self.item_imp[item])

    def end_of_day(self, day: int, user, item, clicked) -> None:
        """Roll the windows forward with today's impressions and (all) clicks."""
        slot = day % 7
        self.user_imp[slot] = np.bincount(user, minlength=self.user_imp.shape[1])
        self.user_clk[slot] = np.bincount(user, clicked, minlength=self.user_imp.shape[1])
        self.item_imp = np.bincount(item, minlength=len(self.item_imp)).astype(float)
        self.item_clk = np.bincount(item, clicked, minlength=len(self.item_imp))


class DayGenerator:
    """Generates the clean traffic of each day in turn (state: ids, features, assignments)."""

    def __init__(self, cfg: SimConfig, world: World, rng: np.random.Generator, event_ids: Ids,
                 arms: tuple[Arm, ...], user_arm: np.ndarray, effects: EffectAccumulator,
                 candidate_rng: np.random.Generator, candidate_event_ids: Ids):
        self.cfg, self.world, self.rng = cfg, world, rng
        # The candidate log draws from its own generator and id space, so logging it (or
        # changing its share) leaves every other event of the world unchanged.
        self.candidate_rng, self.candidate_event_ids = candidate_rng, candidate_event_ids
        self.event_ids, self.request_ids, self.order_ids = event_ids, Ids(), Ids()
        self.arms, self.user_arm, self.effects = arms, user_arm, effects
        self.assigned = np.zeros(len(user_arm), bool)
        self.features = FeatureStore(len(world.user_bias), len(world.item_bias))
        self.exp_vocab = tuple(dict.fromkeys(a.experiment_id for a in arms))
        self.arm_exp = np.array([self.exp_vocab.index(a.experiment_id) for a in arms] + [-1])
        self.arm_variant = np.array([VARIANTS.index(a.variant) for a in arms] + [-1])
        self.arm_attract = np.array([a.attract_mult for a in arms] + [1.0])
        self.arm_purchase = np.array([a.purchase_mult for a in arms] + [1.0])
        self.log_median_price = np.log(np.median(world.price))

    def true_logits(self, user, item, day_start):
        """True attraction logit and purchase logit (before experiment multipliers)."""
        cfg, w = self.cfg, self.world
        aff = np.einsum("...d,...d->...", w.user_vec[user], w.item_vec[item])
        drift = (day_start >= cfg.drift_start_us) & (w.item_category[item] == w.categories.index(cfg.drift_category))
        attract = (cfg.attract_base_logit + cfg.affinity_scale * aff + w.item_bias[item] + w.user_bias[user]
                   + cfg.drift_logit_shift * drift)
        purchase = (cfg.purchase_base_logit + 0.5 * aff + w.item_purchase_bias[item]
                    - cfg.price_effect * (np.log(w.price[item]) - self.log_median_price))
        return attract, purchase

    def generate(self, day: int) -> DayOutput:
        cfg, w, rng = self.cfg, self.world, self.rng
        day_start = cfg.start_us + day * US_PER_DAY
        in_main = day >= cfg.pre_days

        # Requests: Poisson per active user, hour-of-day pattern.
        active = np.flatnonzero(w.signup_at < day_start)
        user = np.repeat(active, rng.poisson(w.user_activity[active] * cfg.requests_per_user_day))
        n = len(user)
        ts = day_start + rng.choice(24, n, p=HOUR_P) * US_PER_HOUR + rng.integers(0, US_PER_HOUR, n)
        order = np.argsort(ts, kind="stable")
        user, ts = user[order], ts[order]
        request_id = self.request_ids.take(n)
        device = np.where(rng.random(n) < 0.9, w.user_device[user], rng.integers(0, len(DEVICES), n))
        surface = rng.choice(len(SURFACES), n, p=SURFACE_P)
        u = rng.random(n)
        policy = np.select([u < cfg.explore_share, u < cfg.explore_share + cfg.interleave_share], [1, 2], 0)
        s = rng.random(n)
        status = np.select([s < cfg.error_rate, s < cfg.error_rate + cfg.fallback_rate], [2, 1], 0)
        policy[status == 1] = pol.POLICIES.index("fallback_popular")
        latency = rng.lognormal(np.log(12.0), 0.45, n) + (status == 1) * rng.lognormal(np.log(40.0), 0.2, n)
        arm = self.user_arm[user] if in_main else np.full(n, -1)
        batches = {"requests": Batch({
            "event_id": self.event_ids.take(n), "request_id": request_id, "user_id": user + 1, "ts": ts,
            "surface": Cat.of(SURFACES, surface), "device": Cat.of(DEVICES, device),
            "model_id": Cat.of(pol.POLICIES, policy), "latency_ms": latency,
            "status": Cat.of(STATUSES, status),
            "experiment_id": Cat.of(self.exp_vocab, self.arm_exp[arm]),
            "variant": Cat.of(VARIANTS, self.arm_variant[arm]),
        }, arrival(rng, ts, cfg))}
        batches["assignments"] = self._assignments(user, ts, arm)

        # Rankings for the served requests.
        srv = np.flatnonzero(status != 2)
        ranked = self._rank(user[srv], policy[srv], day_start)
        m, k = len(srv), cfg.k
        rows = np.repeat(np.arange(m), k)
        item = ranked["items"].ravel()
        imp_user = user[srv][rows]
        position = np.tile(np.arange(1, k + 1, dtype=np.int32), m)
        render = rng.integers(50_000, 600_000, m)
        imp_ts = ts[srv][rows] + render[rows]
        n_imp = len(item)

        attract_logit, purchase_logit = self.true_logits(imp_user, item, day_start)
        imp_arm = arm[srv][rows]
        examine = position.astype(float) ** -cfg.examine_eta
        attract = sigmoid(attract_logit)
        p_purchase_base = sigmoid(purchase_logit)
        p_click = examine * np.minimum(1.0, attract * self.arm_attract[imp_arm])
        p_purchase = np.minimum(1.0, p_purchase_base * self.arm_purchase[imp_arm])
        if in_main:
            self.effects.add(imp_user, imp_arm, examine, attract, p_purchase_base, w.price[item])

        imp_event = self.event_ids.take(n_imp)
        imp_request = request_id[srv][rows]
        batches["impressions"] = Batch({
            "event_id": imp_event, "request_id": imp_request, "user_id": imp_user + 1,
            "item_id": item + 1, "position": position, "ts": imp_ts,
            "model_id": Cat.of(pol.POLICIES, policy[srv][rows]), "score": ranked["score"].ravel(),
            "propensity": ranked["propensity"].ravel(), "team": Cat.of(pol.TEAMS, ranked["team"].ravel()),
        }, arrival(rng, imp_ts, cfg))

        # Outcomes.
        clicked = rng.random(n_imp) < p_click
        ci = np.flatnonzero(clicked)
        click_delay = mixture_delay_s(rng, len(ci), (1 - cfg.click_slow_share, cfg.click_slow_share), (
            lambda k_: rng.lognormal(np.log(cfg.click_fast_median_s), cfg.click_fast_sigma, k_),
            lambda k_: rng.lognormal(np.log(cfg.click_slow_median_s), cfg.click_slow_sigma, k_)))
        if not cfg.delayed_feedback:
            click_delay = np.minimum(click_delay, 60.0)
        click_ts = imp_ts[ci] + (click_delay * US_PER_S).astype(np.int64)
        batches["clicks"] = Batch({
            "event_id": self.event_ids.take(len(ci)), "request_id": imp_request[ci],
            "user_id": imp_user[ci] + 1, "item_id": item[ci] + 1, "ts": click_ts,
        }, arrival(rng, click_ts, cfg))
        bought = rng.random(len(ci)) < p_purchase[ci]
        pi = ci[bought]
        day_s = 86_400.0
        purchase_delay = mixture_delay_s(rng, len(pi), cfg.purchase_delay_shares, (
            lambda k_: np.minimum(rng.lognormal(np.log(cfg.purchase_fast_median_h * 3600), cfg.purchase_fast_sigma, k_),
                                  day_s - 1),
            lambda k_: rng.uniform(day_s, 7 * day_s, k_),
            lambda k_: rng.uniform(7 * day_s + 1, 14 * day_s, k_)))
        if not cfg.delayed_feedback:
            purchase_delay = np.ones_like(purchase_delay)
        conv_ts = click_ts[bought] + (purchase_delay * US_PER_S).astype(np.int64)
        batches["conversions"] = Batch({
            "event_id": self.event_ids.take(len(pi)), "order_id": self.order_ids.take(len(pi)),
            "user_id": imp_user[pi] + 1, "item_id": item[pi] + 1, "ts": conv_ts,
            "revenue": w.price[item[pi]], "currency": Cat.full("USD", len(pi)),
        }, arrival(rng, conv_ts, cfg))

        batches["served_features"] = self._served_features(
            request_id[srv], user[srv], ts[srv], device[srv], ranked["items"])
        batches["shadow_scores"] = self._shadow(request_id[srv], user[srv], ts[srv], policy[srv], ranked["items"])
        batches["candidates"] = self._candidates(request_id[srv], user[srv], ts[srv], ranked)

        self.features.end_of_day(day, imp_user, item, clicked)
        truth = pd.DataFrame({
            "event_id": imp_event, "request_id": imp_request, "user_id": imp_user + 1, "item_id": item + 1,
            "position": position, "ts": imp_ts.astype("datetime64[us]"), "p_click": p_click,
            "p_purchase_given_click": p_purchase,
        })
        candidates = None
        if self.cfg.write_candidates:
            cand = ranked["candidates"]
            cand_attract, cand_purchase = self.true_logits(user[srv][:, None], cand, day_start)
            mult_a = self.arm_attract[arm[srv]][:, None]
            mult_p = self.arm_purchase[arm[srv]][:, None]
            candidates = pd.DataFrame({
                "request_id": np.repeat(request_id[srv], cand.shape[1]), "item_id": cand.ravel() + 1,
                "attract": np.minimum(1.0, sigmoid(cand_attract) * mult_a).ravel(),
                "p_purchase_given_click": np.minimum(1.0, sigmoid(cand_purchase) * mult_p).ravel(),
                "prod_score": ranked["prod_score"].ravel(),
            })
        return DayOutput(batches, truth, candidates)

    def _assignments(self, user, ts, arm) -> Batch:
        """Log each experiment user's assignment at their first request of the main window."""
        _, first = np.unique(user, return_index=True)
        first = first[(arm[first] >= 0) & ~self.assigned[user[first]]]
        first.sort()
        self.assigned[user[first]] = True
        a = arm[first]
        return Batch({
            "event_id": self.event_ids.take(len(first)),
            "experiment_id": Cat.of(self.exp_vocab, self.arm_exp[a]),
            "variant": Cat.of(VARIANTS, self.arm_variant[a]),
            "user_id": user[first] + 1, "ts": ts[first],
        }, arrival(self.rng, ts[first], self.cfg))

    def _rank(self, user, policy, day_start) -> dict[str, np.ndarray]:
        """Retrieve candidates and apply each request's policy (see :mod:`policy`)."""
        cfg, w, rng = self.cfg, self.world, self.rng
        m, c, k = len(user), cfg.n_candidates, cfg.k
        retrieval_score = 0.5 * w.prod.item_bias   # log of an item's retrieval weight
        weights = np.exp(retrieval_score) * (w.created_at < day_start)
        cand = pol.sample_candidates(rng, weights, m, c)
        prod = sigmoid(w.prod.logits(user, cand)).astype(np.float64)
        shown = np.empty((m, k), int)
        score = np.empty((m, k))
        propensity = np.full((m, k), np.nan)
        team = np.full((m, k), -1, np.int32)

        sel = policy == 0
        shown[sel], propensity[sel] = pol.epsilon_greedy(rng, prod[sel], k, cfg.epsilon)
        sel = policy == 1
        shown[sel] = pol.random_order(rng, int(sel.sum()), c, k)
        propensity[sel] = 1.0 / c
        sel = policy == 3
        popularity = self.features.item_popularity(cand[sel])
        shown[sel] = pol.greedy_order(popularity)[:, :k]
        score[sel] = np.take_along_axis(popularity, shown[sel], axis=1)
        sel = np.flatnonzero(policy == 2)
        challenger = sigmoid(w.challenger.logits(user[sel], cand[sel])).astype(np.float64)
        shown[sel], team[sel] = pol.team_draft(rng, pol.greedy_order(prod[sel]), pol.greedy_order(challenger), k)
        model = policy != 3
        score[model] = np.take_along_axis(prod[model], shown[model], axis=1)
        # Interleaved items carry the score of the team (model) that placed them.
        score[sel] = np.where(team[sel] == 1, np.take_along_axis(challenger, shown[sel], axis=1), score[sel])
        return {"items": np.take_along_axis(cand, shown, axis=1), "score": score, "propensity": propensity,
                "team": team, "candidates": cand, "retrieval_score": retrieval_score[cand], "prod_score": prod}

    def _served_features(self, request_id, user, ts, device, items) -> Batch:
        """Long-format features the ranker saw: one user row per request, three item rows per item."""
        cfg, rng, fs = self.cfg, self.rng, self.features
        keep = np.flatnonzero(rng.random(len(request_id)) < cfg.served_features_share)
        k = items.shape[1]
        it = items[keep].ravel()
        rows = np.repeat(keep, k)
        price = self.world.price[it] * np.where(device[rows] == DEVICES.index(cfg.skew_device), cfg.skew_factor, 1.0)
        item_values = np.stack([fs.item_ctr_1d(it), price, fs.item_popularity(it)], axis=1)
        n_item_rows = item_values.size
        req = np.concatenate([keep, np.repeat(rows, 3)])
        feature = np.concatenate([np.zeros(len(keep), np.int32), np.tile(np.arange(1, 4, dtype=np.int32), len(it))])
        item_id = np.concatenate([np.full(len(keep), NULL_INT), np.repeat(it + 1, 3)])
        value = np.concatenate([fs.user_ctr_7d(user[keep]), item_values.ravel()])
        order = np.lexsort((feature, item_id, req))
        req_ts = ts[req][order]
        return Batch({
            "event_id": self.event_ids.take(len(keep) + n_item_rows), "request_id": request_id[req][order],
            "user_id": user[req][order] + 1, "item_id": item_id[order], "ts": req_ts,
            "feature_name": Cat.of(FEATURES, feature[order]), "feature_value": value[order],
        }, arrival(rng, req_ts, cfg))

    def _candidates(self, request_id, user, ts, ranked) -> Batch:
        """The retrieval candidate set of a share of served requests, in retrieval order
        (by the retrieval score; ties: lower item id first)."""
        cfg, rng = self.cfg, self.candidate_rng
        keep = np.flatnonzero(rng.random(len(request_id)) < cfg.candidate_log_share)
        cand, score = ranked["candidates"][keep], ranked["retrieval_score"][keep]
        order = np.argsort(-score, axis=1, kind="stable")
        cand, score = np.take_along_axis(cand, order, axis=1), np.take_along_axis(score, order, axis=1)
        c = cand.shape[1]
        rows = np.repeat(keep, c)
        return Batch({
            "event_id": self.candidate_event_ids.take(len(rows)), "request_id": request_id[rows],
            "user_id": user[rows] + 1, "item_id": cand.ravel() + 1,
            "retrieval_rank": np.tile(np.arange(1, c + 1, dtype=np.int32), len(keep)),
            "retrieval_score": score.ravel(), "ts": ts[rows],
        }, arrival(rng, ts[rows], cfg))

    def _shadow(self, request_id, user, ts, policy, items) -> Batch:
        """challenger_v1 scores every shown item of a share of prod_v1 requests."""
        cfg, rng = self.cfg, self.rng
        keep = np.flatnonzero((policy == 0) & (rng.random(len(policy)) < cfg.shadow_share))
        k = items.shape[1]
        score = sigmoid(self.world.challenger.logits(user[keep], items[keep])).astype(np.float64).ravel()
        latency = rng.lognormal(np.log(8.0), 0.4, len(keep))
        rows = np.repeat(np.arange(len(keep)), k)
        shadow_ts = ts[keep][rows] + (latency[rows] * 1000).astype(np.int64)
        return Batch({
            "event_id": self.event_ids.take(len(score)), "request_id": request_id[keep][rows],
            "item_id": items[keep].ravel() + 1, "model_id": Cat.full(SHADOW_MODEL, len(score)),
            "score": score, "latency_ms": latency[rows], "ts": shadow_ts,
        }, arrival(rng, shadow_ts, cfg))
