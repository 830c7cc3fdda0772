"""Experiments: hash-based user assignment and the true expected metric values per arm.

Assignment is a pure function of ``user_id`` (a splitmix64 hash into 1000 buckets), so it is
fixed at the experiment start and both experiments share one layer: a user is in at most
one of them, which is what lets a request carry a single experiment_id / variant.

True values are *expected* values computed from the true probabilities, not from sampled
outcomes. For every exposed impression of an experiment's users, the impression's base
probabilities are re-evaluated under each arm's multipliers, so both arms are compared on
the same exposures (the pooled population), and the true effect is exact:

- ``ctr``: E[counted clicks] / impressions (a ratio metric over the experiment's users)
- ``clicks_per_user``: E[counted clicks] / exposed users
- ``conversion_rate``: mean over users of P(user has >= 1 attributed purchase)
  = 1 - prod(1 - p_conv) over the user's impressions
- ``revenue_per_user``: E[attributed revenue] / exposed users

with ``p_conv = p_click * q_W * p_purchase_given_click * q_A``, where q_W and q_A are the
probabilities that the click / purchase delay falls inside the click and attribution windows.
Truncation at the end of the log (labels not yet matured) is not part of the truth.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from receval.simulate.config import SimConfig

N_BUCKETS = 1000
VARIANTS = ("control", "treatment", "control_b")
METRICS = ("ctr", "clicks_per_user", "conversion_rate", "revenue_per_user")


@dataclass(frozen=True)
class Arm:
    experiment_id: str
    variant: str
    buckets: tuple[int, int]        # [lo, hi) of the hash buckets
    attract_mult: float = 1.0
    purchase_mult: float = 1.0


def experiment_arms(cfg: SimConfig) -> tuple[Arm, ...]:
    """exp_ranker (20% / 20%, treatment has a true effect) and exp_aa (10% / 10%, none)."""
    return (
        Arm("exp_ranker", "control", (0, 200)),
        Arm("exp_ranker", "treatment", (200, 400), cfg.treatment_attract_mult, cfg.treatment_purchase_mult),
        Arm("exp_aa", "control", (400, 500)),
        Arm("exp_aa", "control_b", (500, 600)),
    )


def user_bucket(user_id: np.ndarray) -> np.ndarray:
    """splitmix64(user_id) mod 1000: a stable, well-mixed assignment hash."""
    z = user_id.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z % np.uint64(N_BUCKETS)).astype(np.int64)


def assign_users(user_id: np.ndarray, arms: tuple[Arm, ...]) -> np.ndarray:
    """Arm index per user (-1: in no experiment)."""
    bucket = user_bucket(user_id)
    arm = np.full(len(user_id), -1)
    for a, spec in enumerate(arms):
        arm[(bucket >= spec.buckets[0]) & (bucket < spec.buckets[1])] = a
    return arm


def _lognormal_cdf(x: float, median: float, sigma: float) -> float:
    return 0.5 * (1 + math.erf(math.log(x / median) / (sigma * math.sqrt(2))))


def window_probabilities(cfg: SimConfig) -> tuple[float, float]:
    """(q_W, q_A): P(click delay <= W) and P(purchase delay <= A) under the delay mixtures."""
    w = cfg.click_window_minutes * 60.0
    q_w = ((1 - cfg.click_slow_share) * _lognormal_cdf(w, cfg.click_fast_median_s, cfg.click_fast_sigma)
           + cfg.click_slow_share * _lognormal_cdf(w, cfg.click_slow_median_s, cfg.click_slow_sigma))
    if not cfg.delayed_feedback:
        return 1.0, 1.0
    fast, mid, _ = cfg.purchase_delay_shares
    a_h = cfg.attribution_window_days * 24.0
    q_a = fast * _lognormal_cdf(a_h, cfg.purchase_fast_median_h, cfg.purchase_fast_sigma) + mid
    return q_w, q_a


class EffectAccumulator:
    """Per-user sums of expected outcomes under every arm of the user's experiment."""

    def __init__(self, cfg: SimConfig, arms: tuple[Arm, ...], n_users: int):
        self.arms = arms
        self.q_w, self.q_a = window_probabilities(cfg)
        shape = (len(arms), n_users)
        self.impressions = np.zeros(n_users)
        self.clicks = np.zeros(shape)
        self.log_no_conv = np.zeros(shape)
        self.revenue = np.zeros(shape)

    def add(self, user: np.ndarray, user_arm: np.ndarray, examine: np.ndarray, attract: np.ndarray,
            p_purchase: np.ndarray, price: np.ndarray) -> None:
        """Add exposed impressions (base probabilities, before any arm multiplier)."""
        n = len(self.impressions)
        in_exp = user_arm >= 0
        self.impressions += np.bincount(user[in_exp], minlength=n)
        for a, arm in enumerate(self.arms):
            sel = in_exp & (self._experiment_of(user_arm) == arm.experiment_id)
            u = user[sel]
            p_click = examine[sel] * np.minimum(1.0, attract[sel] * arm.attract_mult) * self.q_w
            p_conv = p_click * np.minimum(1.0, p_purchase[sel] * arm.purchase_mult) * self.q_a
            self.clicks[a] += np.bincount(u, p_click, n)
            self.log_no_conv[a] += np.bincount(u, np.log1p(-p_conv), n)
            self.revenue[a] += np.bincount(u, p_conv * price[sel], n)

    def _experiment_of(self, user_arm: np.ndarray) -> np.ndarray:
        names = np.array([a.experiment_id for a in self.arms], dtype=object)
        return names[user_arm]

    def table(self, user_arm: np.ndarray) -> pd.DataFrame:
        """experiment_id, variant, metric, true_value, true_effect_abs, true_effect_rel, n_users."""
        rows = []
        for a, arm in enumerate(self.arms):
            members = np.isin(user_arm, [b for b, o in enumerate(self.arms) if o.experiment_id == arm.experiment_id])
            exposed = members & (self.impressions > 0)
            n_users = int(exposed.sum())
            values = {
                "ctr": self.clicks[a][exposed].sum() / self.impressions[exposed].sum(),
                "clicks_per_user": self.clicks[a][exposed].mean(),
                "conversion_rate": (1 - np.exp(self.log_no_conv[a][exposed])).mean(),
                "revenue_per_user": self.revenue[a][exposed].mean(),
            }
            rows += [(arm.experiment_id, arm.variant, m, float(values[m]), n_users) for m in METRICS]
        df = pd.DataFrame(rows, columns=["experiment_id", "variant", "metric", "true_value", "n_users"])
        control = df[df["variant"] == "control"].set_index(["experiment_id", "metric"])["true_value"]
        base = control.loc[list(zip(df["experiment_id"], df["metric"]))].to_numpy()
        df["true_effect_abs"] = df["true_value"] - base
        df["true_effect_rel"] = df["true_effect_abs"] / base
        return df[["experiment_id", "variant", "metric", "true_value", "true_effect_abs",
                   "true_effect_rel", "n_users"]]
