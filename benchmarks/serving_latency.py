"""Serving latency benchmark: the two-stage scorer (HNSW retrieval of 1000 candidates,
snapshot feature assembly, MMoE ranking of all 1000, top 50) on two catalogs.

- ``default``: the default world's trained MMoE, snapshot marts and logs
  (warehouse/bench_models_default; see docs/serving.md for how to build its marts);
  shadow challenger = the stored XGBoost.
- ``synthetic_1m``: 1,000,000 items with 64-d vectors (decaying spectrum, log-normal
  norms), 10,000 users, a random snapshot, and MMoEs
  with random weights of the real architecture (16-d embeddings, 4 experts, DLRM
  interactions, 35 dense inputs): latency does not depend on the weights' values.
  Shadow challenger = a second random MMoE.

Reports per-stage and end-to-end P50/P95/P99/max, throughput, HNSW recall@1000 vs exact
search, HNSW build time and peak memory; P99 without and with the shadow side by side.
Prints JSON and writes benchmarks/results/serving_latency.json.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/serving_latency.py [--n-requests 1000] [--skip-1m]
"""
from __future__ import annotations

import argparse
import json
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

from receval.models.features import CATEGORICAL, CONTENT_PREFIX, DENSE, FeatureEncoder
from receval.models.mmoe import MMoENetwork, MMoEParams, TrainedMMoE
from receval.models.popularity import PopularityModel
from receval.serving import (
    Factors, HNSWIndex, MMoERanker, ShadowWorker, Snapshot, StoredRanker, TwoStageScorer, recall_at_k,
)
from receval.serving.bench import build_server, latency_summary, make_requests, peak_memory_mb, replay

ROOT = Path(__file__).resolve().parents[1]
WAREHOUSE = ROOT / "warehouse" / "bench_models_default"


def _runs(scorer: TwoStageScorer, requests, challenger) -> dict:
    """Replay without, then with, a shadow challenger."""
    scorer.shadow = None
    plain, seconds = replay(scorer, requests)
    scorer.shadow = ShadowWorker(challenger, scorer.snapshot)
    shadowed, shadow_seconds = replay(scorer, requests)
    records = scorer.shadow.close()
    scorer.shadow = None
    out = {"without_shadow": latency_summary(plain, seconds), "with_shadow": latency_summary(shadowed, shadow_seconds)}
    out["p99_total_ms"] = {"without_shadow": out["without_shadow"]["latency_ms"]["total"]["p99"],
                           "with_shadow": out["with_shadow"]["latency_ms"]["total"]["p99"]}
    shadow_ms = np.array([r.latency_ms for r in records])
    out["shadow"] = {"model_id": challenger.model_id, "records": len(records),
                     "errors": sum(r.error is not None for r in records),
                     "p50_ms": float(np.percentile(shadow_ms, 50)), "p99_ms": float(np.percentile(shadow_ms, 99))}
    return out


def default_catalog(n_requests: int) -> dict:
    server = build_server(WAREHOUSE / "models", WAREHOUSE / "marts")
    scorer = server.scorer
    rng = np.random.default_rng(0)
    queries = server.factors.user_vectors[rng.choice(len(server.factors.user_ids), 200, replace=False)]
    started = time.perf_counter()
    plain_ip = HNSWIndex(server.factors.item_ids, server.factors.item_vectors, metric="ip")
    ip_build = time.perf_counter() - started
    requests = make_requests(scorer.snapshot.user_ids, n_requests, server.as_of, devices=server.devices)
    return {"catalog_items": int(len(scorer.index.item_ids)), "ef_search": scorer.index.ef_search,
            "recall_at_1000_vs_exact": recall_at_k(scorer.index, queries, 1000),
            "recall_at_1000_plain_inner_product_graph": recall_at_k(plain_ip, queries, 1000),
            "hnsw_build_seconds": server.build_seconds["hnsw_build"], "hnsw_ip_build_seconds": ip_build,
            "build_seconds": server.build_seconds,
            **_runs(scorer, requests, StoredRanker.load(WAREHOUSE / "models", "xgboost")),
            "peak_memory_mb": peak_memory_mb()}


def _synthetic_vectors(rng, n: int, dim: int, decay: float = 1.0) -> np.ndarray:
    """Gaussian vectors whose j-th coordinate has scale ``(1 + j)^-decay`` (a decaying
    spectrum, as factorisation vectors have), times log-normal norms (popular items are long).
    Near-isotropic vectors (rank-16 structure plus noise) reached only 0.50 recall@1000 at
    1M items with the same index (docs/serving.md)."""
    scale = (1.0 + np.arange(dim, dtype=np.float32)) ** -decay
    vectors = rng.normal(size=(n, dim)).astype(np.float32) * scale
    return vectors * rng.lognormal(0.0, 0.5, size=(n, 1)).astype(np.float32)


def synthetic_catalog(n_requests: int, n_items: int = 1_000_000, n_users: int = 10_000, dim: int = 64,
                      n_categories: int = 20, n_brands: int = 64) -> dict:
    rng = np.random.default_rng(0)
    item_ids, user_ids = np.arange(1, n_items + 1), np.arange(1, n_users + 1)
    content_names = [f"{CONTENT_PREFIX}{j}" for j in range(16)]
    vocab = {"user_id": [str(u) for u in user_ids], "item_id": [str(i) for i in item_ids],
             "item_category": [f"cat_{c:02d}" for c in range(n_categories)],
             "item_brand": [f"brand_{b}" for b in range(n_brands)], "device": ["ios", "android", "web", "unknown"],
             "user_country": ["US", "DE", "IN", "GB", "BR", "FR", "JP"], "hour_of_day": [str(h) for h in range(24)]}
    dense = DENSE + tuple(content_names)
    encoder = FeatureEncoder(CATEGORICAL, dense, vocab, [0.0] * len(dense), [1.0] * len(dense))
    category = rng.integers(0, n_categories, n_items)
    items = pa.table({"item_id": item_ids, "item_category": pa.array(np.array(vocab["item_category"])[category]),
                      "item_brand": pa.array(np.array(vocab["item_brand"])[rng.integers(0, n_brands, n_items)]),
                      **{c: rng.random(n_items) for c in ("item_price", "item_age_days", "item_impressions_1h",
                         "item_ctr_1h", "item_impressions_1d", "item_ctr_1d", "item_id_te_ctr", "item_id_te_cvr",
                                                            "item_brand_te_ctr")}})
    users = pa.table({"user_id": user_ids, "user_country": pa.array(rng.choice(vocab["user_country"], n_users)),
                      **{c: rng.random(n_users) for c in ("user_tenure_days", "user_impressions_7d", "user_ctr_7d",
                                                          "user_impressions_30d", "user_ctr_30d", "user_id_te_ctr")},
                      "user_recent_item_ids": pa.array([rng.choice(item_ids, 5).tolist() for _ in range(n_users)])})
    pairs = n_users * n_categories
    user_categories = pa.table({"user_id": np.repeat(user_ids, n_categories),
                                "item_category": pa.array(np.tile(vocab["item_category"], n_users)),
                                "user_category_impressions_30d": rng.random(pairs),
                                "user_category_click_share_30d": rng.random(pairs)})
    content = pa.table({"item_id": item_ids, **{c: rng.normal(size=n_items).astype(np.float32) for c in content_names}})

    started = time.perf_counter()
    snapshot = Snapshot(encoder, users, items, user_categories, content)
    load_seconds = time.perf_counter() - started
    item_vectors = _synthetic_vectors(rng, n_items, dim)
    factors = Factors(user_ids, _synthetic_vectors(rng, n_users, dim), item_ids, item_vectors)
    started = time.perf_counter()
    index = HNSWIndex(item_ids, item_vectors)
    build_seconds = time.perf_counter() - started

    def random_mmoe(seed: int) -> TrainedMMoE:
        params = MMoEParams(seed=seed)
        torch.manual_seed(seed)
        return TrainedMMoE(MMoENetwork(encoder.cardinalities, len(dense), params), params,
                           tuple(encoder.cardinalities), len(dense))

    popularity = PopularityModel(item_ids, {"click": rng.random(n_items), "conversion": rng.random(n_items)},
                                 {"click": 0.05, "conversion": 0.01}, 20.0)
    scorer = TwoStageScorer(index, factors, snapshot, MMoERanker(random_mmoe(0)), popularity,
                            model_id="mmoe_random")
    queries = factors.user_vectors[rng.choice(n_users, 100, replace=False)]
    started = time.perf_counter()
    recall = recall_at_k(index, queries, 1000)
    recall_seconds = time.perf_counter() - started
    recall_by_ef = {}
    for ef in (1000, 3000):
        index.ef_search = ef
        recall_by_ef[ef] = recall_at_k(index, queries, 1000)
    index.ef_search = 1500
    requests = make_requests(user_ids, n_requests, datetime(2026, 1, 1, 12), seed=1)
    return {"catalog_items": n_items, "dim": dim, "ef_search": index.ef_search,
            "recall_at_1000_vs_exact": recall, "recall_seconds_100_queries": recall_seconds,
            "recall_at_1000_by_ef_search": {**recall_by_ef, 1500: recall},
            "hnsw_build_seconds": build_seconds, "snapshot_load_seconds": load_seconds,
            **_runs(scorer, requests, MMoERanker(random_mmoe(1), model_id="mmoe_random_challenger")),
            "peak_memory_mb": peak_memory_mb()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-requests", type=int, default=1000)
    parser.add_argument("--skip-1m", action="store_true", help="only the default catalog")
    args = parser.parse_args()
    results = {"machine": "2 shared CPU cores, torch 2 threads", "n_requests": args.n_requests,
               "default": default_catalog(args.n_requests)}
    if not args.skip_1m:
        results["synthetic_1m"] = synthetic_catalog(args.n_requests)
    text = json.dumps(results, indent=2)
    print(text)
    out = ROOT / "benchmarks" / "results" / "serving_latency.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")


if __name__ == "__main__":
    main()
