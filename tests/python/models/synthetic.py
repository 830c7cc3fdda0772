"""Synthetic candidate-model data with a known truth, shared by the tests of
receval.models: a feature table in the int_features__impressions contract with labels drawn
from true click / purchase probabilities, and an item catalog."""
from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pyarrow as pa

from receval.models.features import CATEGORICAL, DENSE

N_USERS, N_ITEMS = 300, 120


def synthetic_world(seed: int = 0):
    """True click / purchase logits: user and item effects, a position effect, one dense signal."""
    rng = np.random.default_rng(seed)
    return {"user_bias": rng.normal(0, 0.8, N_USERS), "item_bias": rng.normal(0, 0.8, N_ITEMS),
            "item_cat": rng.integers(0, 6, N_ITEMS), "rng": rng}


def synthetic_features(world, n: int, start: date, days: int, first_event: int = 0) -> pa.Table:
    """A feature table in the int_features__impressions contract with labels from the truth.

    ``item_id_te_ctr`` / ``user_id_te_ctr`` carry a noisy view of the true item / user
    effect, as leak-free target encodings would."""
    rng = world["rng"]
    user = rng.integers(1, N_USERS + 1, n)
    item = rng.integers(1, N_ITEMS + 1, n)
    position = rng.integers(1, 11, n)
    signal = rng.normal(0, 1, n)
    logit = -1.5 + world["user_bias"][user - 1] + world["item_bias"][item - 1] - 0.15 * position + 0.7 * signal
    p_click = 1 / (1 + np.exp(-logit))
    p_buy = p_click * 0.2
    day = rng.integers(0, days, n)
    columns = {
        "event_id": np.arange(first_event, first_event + n), "request_id": np.arange(n) // 10 + first_event,
        "impression_date": pa.array([start + timedelta(days=int(d)) for d in day], pa.date32()),
        "split": pa.array(np.where(day < days - 2, "train", np.where(day == days - 2, "validation", "test"))),
        "is_clicked": rng.random(n) < p_click, "is_converted": rng.random(n) < p_buy,
        "is_label_mature": day < days - 3,
    }
    dense = {name: rng.normal(0, 1, n) for name in DENSE}
    dense["position"] = position.astype(float)
    dense["item_ctr_1d"] = signal
    dense["item_id_te_ctr"] = world["item_bias"][item - 1] + rng.normal(0, 0.2, n)
    dense["user_id_te_ctr"] = world["user_bias"][user - 1] + rng.normal(0, 0.2, n)
    dense["user_ctr_7d"] = np.where(rng.random(n) < 0.2, np.nan, dense["user_ctr_7d"])
    categorical = {"user_id": user, "item_id": item, "item_category": [f"cat_{c}" for c in world["item_cat"][item - 1]],
                   "item_brand": [f"b{i % 7}" for i in item], "device": rng.choice(["ios", "android", "web"], n),
                   "user_country": rng.choice(["US", "DE"], n), "hour_of_day": rng.integers(0, 24, n)}
    table = pa.table({**columns, **categorical, **dense, "p_click": p_click, "p_buy": p_buy})
    assert set(CATEGORICAL) | set(DENSE) <= set(table.column_names)
    return table


def catalog() -> pa.Table:
    words = ["red lamp", "blue lamp", "red shoes", "green tent", "gold watch", "black mug"]
    return pa.table({
        "item_id": np.arange(1, N_ITEMS + 1), "category": [f"cat_{i % 6}" for i in range(N_ITEMS)],
        "brand": [f"Brand{i % 7}" for i in range(N_ITEMS)], "title": [words[i % 6] for i in range(N_ITEMS)],
        "price": np.linspace(5, 200, N_ITEMS),
    })
