"""True values of the built-in target policies, written to ``truth/policy_values.parquet``.

Computed exactly (no sampling) from the true probabilities, after the log is written; it
draws no random numbers, so it leaves the world (and its seed's determinism) unchanged.

Values are per impression slot on the *labelled* scale the warehouse estimates: the
expected number of counted clicks (``p_click * q_W``), attributed purchases
(``p_click * q_W * p_purchase_given_click * q_A``) and attributed revenue (the same times
the item's price) per shown slot, where ``q_W`` / ``q_A`` (world.json) are the
probabilities that a click / purchase delay falls in its window, and
``p_click = position ** -eta * attract``. A list's value is K times the slot value.

Policies (those receval's ``int_cf__builtin_target_policies`` evaluates)
-------------------------------------------------------------------------
uniform_random
    A uniformly random ordered K-subset of the request's C candidates: every candidate is
    at every position with probability 1/C, so the slot value of a request is
    ``mean_k theta_k * mean_c v_c``. Averaged over every served request.
prod_v1
    The logging policy (epsilon-greedy over the candidates, exact marginal
    ``(1 - eps) 1[greedy rank = k] + eps / C``). Averaged over every served request.
popularity
    Top-K of the candidates by previous-day popularity: the ``fallback_popular`` lists.
    candidates.parquet has no popularity, so its value is the exact expected slot value of
    the lists it actually served (the fallback requests: a random 1% of traffic), from the
    true ``p_click`` of those slots in impressions.parquet.

Columns: policy_id, reward (click / purchase / revenue), day ('all' or an ISO date of the
request), true_value (per slot), n_requests.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from receval.simulate.config import SimConfig
from receval.simulate.experiments import window_probabilities

REWARDS = ("click", "purchase", "revenue")
POLICY_IDS = ("uniform_random", "prod_v1", "popularity")


def _reward_factors(attract_like: np.ndarray, p_purchase: np.ndarray, price: np.ndarray,
                    q_w: float, q_a: float) -> dict[str, np.ndarray]:
    click = attract_like * q_w
    purchase = click * p_purchase * q_a
    return {"click": click, "purchase": purchase, "revenue": purchase * price}


def policy_values(truth_dir: Path, cfg: SimConfig, requests: pd.DataFrame) -> pd.DataFrame:
    """True per-slot values of the built-in policies, overall and per request day.

    ``requests``: request_id, model_id, day (ISO date) of every generated request.
    """
    truth_dir = Path(truth_dir)
    q_w, q_a = window_probabilities(cfg)
    theta = np.arange(1, cfg.k + 1, dtype=float) ** -cfg.examine_eta
    price = pd.read_parquet(truth_dir / "items.parquet", columns=["item_id", "price"])
    price_of = np.zeros(int(price["item_id"].max()) + 1)
    price_of[price["item_id"].to_numpy()] = price["price"].to_numpy()
    req_day = requests.set_index("request_id")["day"]
    per_request: list[pd.DataFrame] = []

    cand_path = truth_dir / "candidates.parquet"
    if cand_path.exists():
        cand = pd.read_parquet(cand_path)
        c = cfg.n_candidates
        rid = cand["request_id"].to_numpy().reshape(-1, c)[:, 0]
        attract = cand["attract"].to_numpy().reshape(-1, c)
        p_buy = cand["p_purchase_given_click"].to_numpy().reshape(-1, c)
        prod = cand["prod_score"].to_numpy().reshape(-1, c)
        prices = price_of[cand["item_id"].to_numpy()].reshape(-1, c)
        order = np.argsort(-prod, axis=1, kind="stable")[:, : cfg.k]   # greedy top-K (policy.greedy_order)
        for reward, v in _reward_factors(attract, p_buy, prices, q_w, q_a).items():
            mean_c = v.mean(axis=1)
            uniform = theta.mean() * mean_c
            greedy = (np.take_along_axis(v, order, axis=1) * theta).mean(axis=1)
            prod_v1 = (1 - cfg.epsilon) * greedy + cfg.epsilon * uniform
            for policy, value in (("uniform_random", uniform), ("prod_v1", prod_v1)):
                per_request.append(pd.DataFrame({"policy_id": policy, "reward": reward,
                                                 "request_id": rid, "value": value}))

    imp = pd.read_parquet(truth_dir / "impressions.parquet",
                          columns=["request_id", "item_id", "p_click", "p_purchase_given_click"])
    fallback = requests.loc[requests["model_id"] == "fallback_popular", "request_id"]
    imp = imp[imp["request_id"].isin(fallback)]
    if len(imp):
        factors = _reward_factors(imp["p_click"].to_numpy(), imp["p_purchase_given_click"].to_numpy(),
                                  price_of[imp["item_id"].to_numpy()], q_w, q_a)
        for reward, v in factors.items():
            slot = pd.DataFrame({"request_id": imp["request_id"].to_numpy(), "value": v})
            mean = slot.groupby("request_id", sort=True)["value"].mean()
            per_request.append(pd.DataFrame({"policy_id": "popularity", "reward": reward,
                                             "request_id": mean.index.to_numpy(), "value": mean.to_numpy()}))

    frame = pd.concat(per_request, ignore_index=True)
    frame["day"] = req_day.reindex(frame["request_id"]).to_numpy()
    overall = frame.assign(day="all")
    both = pd.concat([overall, frame], ignore_index=True)
    out = (both.groupby(["policy_id", "reward", "day"], sort=True)["value"]
           .agg(true_value="mean", n_requests="size").reset_index())
    out["n_requests"] = out["n_requests"].astype(np.int64)
    return out[["policy_id", "reward", "day", "true_value", "n_requests"]]


def write_policy_values(truth_dir: Path, cfg: SimConfig, requests: pd.DataFrame) -> None:
    """Write ``truth_dir/policy_values.parquet``."""
    table = pa.Table.from_pandas(policy_values(truth_dir, cfg, requests), preserve_index=False)
    pq.write_table(table, Path(truth_dir) / "policy_values.parquet", compression="zstd")


def table_policy_values(truth_dir: Path, table: pd.DataFrame) -> pd.DataFrame:
    """True per-slot values of any target policy given as a *complete* target-policy table.

    ``table``: policy_id, request_id, item_id, position, target_probability, listing every
    (candidate, position) the policy can choose (e.g. a candidate model's policy from
    ``receval.ope.candidate_policies.candidate_policy_table(..., rows="all")``). The value of
    a request is ``sum_k theta_k sum_c pi(c at k) v_c / K`` with v the labelled-scale slot
    value of the module docstring, read from candidates.parquet (tiny and default worlds);
    a (request, item) that is not a candidate there raises. Returns policy_id, reward,
    true_value (mean over the table's requests) and n_requests.
    """
    truth_dir = Path(truth_dir)
    world = json.loads((truth_dir / "world.json").read_text())
    cfg = world["config"]
    theta = np.arange(1, cfg["k"] + 1, dtype=float) ** -cfg["examine_eta"]
    cand = pd.read_parquet(truth_dir / "candidates.parquet",
                           columns=["request_id", "item_id", "attract", "p_purchase_given_click"])
    price = pd.read_parquet(truth_dir / "items.parquet", columns=["item_id", "price"])
    rows = table.merge(cand, on=["request_id", "item_id"], how="left", validate="many_to_one")
    if rows["attract"].isna().any():
        bad = rows.loc[rows["attract"].isna(), ["request_id", "item_id"]].iloc[0].to_dict()
        raise ValueError(f"target row {bad} is not a candidate of its request in candidates.parquet")
    rows = rows.merge(price, on="item_id", how="left")
    factors = _reward_factors(rows["attract"].to_numpy(), rows["p_purchase_given_click"].to_numpy(),
                              rows["price"].to_numpy(), world["q_click_window"], world["q_attribution_window"])
    weight = rows["target_probability"].to_numpy() * theta[rows["position"].to_numpy() - 1] / cfg["k"]
    out = []
    for reward, v in factors.items():
        per_request = rows.assign(value=weight * v).groupby(["policy_id", "request_id"], sort=True)["value"].sum()
        agg = per_request.groupby(level="policy_id").agg(true_value="mean", n_requests="size").reset_index()
        out.append(agg.assign(reward=reward))
    return pd.concat(out, ignore_index=True)[["policy_id", "reward", "true_value", "n_requests"]]
