"""Assemble a server from a model store and a warehouse's marts, replay requests, and write
what it served in the landing-zone contract plus a latency report (``receval serve-bench``).

Logs follow :data:`receval.contract.ENTITY_SCHEMAS` and the hive layout
``<out>/raw/<entity>/date=YYYY-MM-DD/hour=HH/part-00000.parquet`` (arrival = serving time):

- ``requests``: status ok / fallback, end-to-end ``latency_ms``, the serving ``model_id``;
- ``impressions``: the served list; the ranking is a deterministic top-k, so every
  ``propensity`` is 1.0 (the logging policy shows that item at that position with certainty);
- ``served_features``: the raw dense feature values the ranker saw for each served item of
  an ok request (categorical columns are ids/strings and do not fit ``feature_value``);
- ``shadow_scores``: the challenger's score of every candidate and its latency.
"""
from __future__ import annotations

import json
import resource
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from receval.contract import ENTITY_SCHEMAS
from receval.models.content import item_content_embeddings
from receval.models.features import CONTENT_PREFIX
from receval.serving.ranker import MMoERanker, StoredRanker, load_popularity
from receval.serving.retrieval import Factors, HNSWIndex, fit_factors, recall_at_k
from receval.serving.scorer import STAGES, Request, Response, TwoStageScorer
from receval.serving.shadow import ShadowRecord, ShadowWorker
from receval.serving.snapshot import Snapshot, load_snapshot_tables

__all__ = ["Server", "build_server", "make_requests", "replay", "latency_summary", "landing_tables",
           "write_landing_zone", "peak_memory_mb", "recall_report", "serve_bench"]


@dataclass
class Server:
    """A scorer with what was measured while building it."""

    scorer: TwoStageScorer
    factors: Factors
    as_of: datetime
    devices: dict[int, str]
    build_seconds: dict[str, float]


def build_server(store: Path, marts: Path, *, model_id: str = "mmoe", shadow_model_id: str | None = None,
                 budget_ms: float = 100.0, ef_search: int = 1500, n_factors: int = 64, content_seed: int = 0,
                 threads: int = 2, seed: int = 0) -> Server:
    """Load the ranker, the snapshot and the logs; fit the item vectors and build the index.

    Item content embeddings are recomputed from ``dim_items`` exactly as
    ``int_features__item_content`` computes them (``content_seed`` = dbt var
    ``model_content_seed``); interactions for the factorisation are
    ``fct_impression_labels`` (every impression, clicks weighted up).
    """
    marts, seconds = Path(marts), {}
    started = time.perf_counter()
    champion = StoredRanker.load(store, model_id)
    if champion.family != "mmoe":
        raise ValueError(f"the serving ranker must be an MMoE; {model_id!r} is {champion.family}")
    items = pq.read_table(marts / "dim_items.parquet", columns=["item_id", "category", "brand", "title", "price"])
    n_content = sum(c.startswith(CONTENT_PREFIX) for c in champion.encoder.dense)
    content = item_content_embeddings(items.sort_by("item_id"), n_components=max(n_content, 1), seed=content_seed)
    tables = load_snapshot_tables(marts)
    snapshot = Snapshot(champion.encoder, tables["fct_online_features_users"], tables["fct_online_features_items"],
                        tables["fct_online_features_user_categories"], content)
    seconds["load"] = time.perf_counter() - started

    started = time.perf_counter()
    log = pq.read_table(marts / "fct_impression_labels.parquet", columns=["user_id", "item_id", "is_clicked"])
    content = content.sort_by("item_id")
    content_matrix = np.column_stack([content[c].to_numpy() for c in content.column_names if c != "item_id"])
    factors = fit_factors(log["user_id"].to_numpy(), log["item_id"].to_numpy(),
                          log["is_clicked"].to_numpy(zero_copy_only=False).astype(np.float64),
                          n_factors=n_factors, catalog=content["item_id"].to_numpy(),
                          catalog_content=content_matrix, seed=seed)
    seconds["factorise"] = time.perf_counter() - started
    started = time.perf_counter()
    index = HNSWIndex(factors.item_ids, factors.item_vectors, ef_search=ef_search)
    seconds["hnsw_build"] = time.perf_counter() - started

    shadow = None
    if shadow_model_id:
        challenger = StoredRanker.load(store, shadow_model_id)
        same = challenger.encoder.to_json() == champion.encoder.to_json()
        shadow = ShadowWorker(challenger, snapshot if same else Snapshot(
            challenger.encoder, tables["fct_online_features_users"], tables["fct_online_features_items"],
            tables["fct_online_features_user_categories"], content))
    scorer = TwoStageScorer(index, factors, snapshot, MMoERanker(champion.model, threads), load_popularity(store),
                            model_id=model_id, budget_ms=budget_ms, shadow=shadow)
    users = pq.read_table(marts / "dim_users.parquet", columns=["user_id", "device"])
    as_of = pc.max(tables["fct_online_features_users"]["feature_ts"]).as_py()
    return Server(scorer, factors, as_of, dict(zip(users["user_id"].to_pylist(), users["device"].to_pylist())),
                  seconds)


def make_requests(user_ids: np.ndarray, n: int, start: datetime, *, devices: dict[int, str] | None = None,
                  interval_ms: float = 50.0, seed: int = 0) -> list[Request]:
    """``n`` requests of users drawn uniformly from ``user_ids``, ``interval_ms`` apart from ``start``
    (the snapshot's time, so each request sees the snapshot's values)."""
    rng = np.random.default_rng(seed)
    users = rng.choice(np.asarray(user_ids), size=n)
    out = []
    for i, user in enumerate(users.tolist()):
        ts = start + timedelta(milliseconds=i * interval_ms)
        out.append(Request(i + 1, int(user), (devices or {}).get(user, "unknown"), ts.hour, ts))
    return out


def replay(scorer: TwoStageScorer, requests: list[Request], warmup: int = 10) -> tuple[list[Response], float]:
    """Serve ``requests`` one after another (after ``warmup`` unlogged, unshadowed ones);
    returns the responses and the wall-clock seconds of the logged ones."""
    shadow, scorer.shadow = scorer.shadow, None
    for request in requests[:warmup]:
        scorer.serve(request)
    scorer.shadow = shadow
    started = time.perf_counter()
    responses = [scorer.serve(r) for r in requests]
    return responses, time.perf_counter() - started


def _percentiles(values) -> dict[str, float | None]:
    values = np.asarray(values, float)
    if not len(values):
        return {"n": 0, "p50": None, "p95": None, "p99": None, "max": None}
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {"n": int(len(values)), "p50": float(p50), "p95": float(p95), "p99": float(p99), "max": float(values.max())}


def latency_summary(responses: list[Response], seconds: float) -> dict:
    """Per-stage and end-to-end latency percentiles (ms), throughput and status counts."""
    stages = {s: _percentiles([r.latency_ms[s] for r in responses if s in r.latency_ms]) for s in STAGES}
    statuses = {s: sum(r.status == s for r in responses) for s in ("ok", "fallback")}
    return {"latency_ms": stages, "throughput_rps": len(responses) / seconds if seconds > 0 else None,
            "status": statuses}


def peak_memory_mb() -> float:
    """Peak resident memory of this process (``ru_maxrss`` is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def landing_tables(responses: list[Response], shadow: list[ShadowRecord], feature_names: list[str],
                   dense_names: list[str]) -> dict[str, pa.Table]:
    """The served logs as contract tables (event ids numbered per entity from 1)."""
    req = [r.request for r in responses]
    requests = {"event_id": list(range(1, len(req) + 1)), "request_id": [q.request_id for q in req],
                "user_id": [q.user_id for q in req], "ts": [q.ts for q in req],
                "surface": ["home"] * len(req), "device": [q.device for q in req],
                "model_id": [r.model_id for r in responses], "latency_ms": [r.latency_ms["total"] for r in responses],
                "status": [r.status for r in responses], "experiment_id": [None] * len(req),
                "variant": [None] * len(req)}
    imp = {name: [] for name in ENTITY_SCHEMAS["impressions"].names}
    feat = {name: [] for name in ENTITY_SCHEMAS["served_features"].names}
    for r in responses:
        n = len(r.item_ids)
        imp["request_id"] += [r.request.request_id] * n
        imp["user_id"] += [r.request.user_id] * n
        imp["item_id"] += r.item_ids.tolist()
        imp["position"] += list(range(1, n + 1))
        imp["ts"] += [r.request.ts] * n
        imp["model_id"] += [r.model_id] * n
        imp["score"] += r.scores.tolist()
        imp["propensity"] += [1.0] * n  # deterministic top-k
        imp["team"] += [None] * n
        if r.features is not None:
            columns = [dense_names.index(f) for f in feature_names]
            values = r.features.raw_dense[:, columns].astype(np.float64).ravel()
            # Long format: a feature the ranker saw as missing (a rate with no events yet)
            # is not logged, so the warehouse's null-rate gate on feature_value keeps its meaning.
            seen = ~np.isnan(values)
            feat["request_id"] += [r.request.request_id] * int(seen.sum())
            feat["user_id"] += [r.request.user_id] * int(seen.sum())
            feat["item_id"] += np.repeat(r.item_ids, len(columns))[seen].tolist()
            feat["ts"] += [r.request.ts] * int(seen.sum())
            feat["feature_name"] += np.array(feature_names * n, dtype=object)[seen].tolist()
            feat["feature_value"] += values[seen].tolist()
    imp["event_id"] = list(range(1, len(imp["request_id"]) + 1))
    feat["event_id"] = list(range(1, len(feat["request_id"]) + 1))
    shadow_rows = {name: [] for name in ENTITY_SCHEMAS["shadow_scores"].names}
    for s in shadow:
        n = len(s.item_ids)
        shadow_rows["request_id"] += [s.request_id] * n
        shadow_rows["item_id"] += s.item_ids.tolist()
        shadow_rows["model_id"] += [s.model_id] * n
        shadow_rows["score"] += [None if np.isnan(v) else v for v in s.scores.tolist()]
        shadow_rows["latency_ms"] += [s.latency_ms] * n
        shadow_rows["ts"] += [s.ts] * n
    shadow_rows["event_id"] = list(range(1, len(shadow_rows["request_id"]) + 1))
    rows = {"requests": requests, "impressions": imp, "served_features": feat, "shadow_scores": shadow_rows}
    return {entity: pa.table(columns, schema=ENTITY_SCHEMAS[entity]) for entity, columns in rows.items()}


def dimension_tables(marts: Path) -> dict[str, pa.Table]:
    """The users and items dimensions of the run (from the warehouse's dim_users / dim_items)
    as contract change events stamped at their last update, so the run's landing zone is
    complete: the warehouse validates served ids against them."""
    out = {}
    for entity, key, columns in (("users", "user_id", ["signup_at", "country", "device"]),
                                 ("items", "item_id", ["category", "price", "created_at", "brand", "title"])):
        dim = pq.read_table(Path(marts) / f"dim_{entity}.parquet").sort_by(key)
        rows = {"event_id": np.arange(1, dim.num_rows + 1), key: dim[key], "ts": dim["updated_at"],
                **{c: dim[c] for c in columns}}
        out[entity] = pa.table(rows).cast(ENTITY_SCHEMAS[entity])
    return out


def write_landing_zone(tables: dict[str, pa.Table], out: Path) -> list[Path]:
    """Write each contract entity to ``out/raw/<entity>/date=.../hour=.../part-00000.parquet``
    by ts hour. An entity with no rows (a serving run has no clicks yet) gets one empty file
    in the first hour of the run, so every source of the warehouse finds its files."""
    written = []
    first = min(pc.min(t["ts"]).as_py() for t in tables.values() if t.num_rows)
    first = first.replace(minute=0, second=0, microsecond=0)
    for entity, schema in ENTITY_SCHEMAS.items():
        table = tables.get(entity, schema.empty_table())
        if not table.num_rows:
            path = Path(out) / "raw" / entity / f"date={first:%Y-%m-%d}" / f"hour={first:%H}" / "part-00000.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, path, compression="zstd")
            written.append(path)
            continue
        hours = pc.floor_temporal(table["ts"], unit="hour")
        for hour in pc.unique(hours).to_pylist():
            part = table.filter(pc.equal(hours, pa.scalar(hour, hours.type)))
            path = Path(out) / "raw" / entity / f"date={hour:%Y-%m-%d}" / f"hour={hour:%H}" / "part-00000.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(part, path, compression="zstd")
            written.append(path)
    return written


def recall_report(server: Server, n_queries: int = 200, k: int = 1000, seed: int = 0) -> float:
    """HNSW recall@k vs exact search over the query vectors of ``n_queries`` random users."""
    rng = np.random.default_rng(seed)
    users = rng.choice(server.factors.user_ids, size=min(n_queries, len(server.factors.user_ids)), replace=False)
    queries = np.stack([server.factors.user_vector(u) for u in users])
    return recall_at_k(server.scorer.index, queries, k)


def serve_bench(store: Path, marts: Path, out: Path | None, *, n_requests: int = 1000, budget_ms: float = 100.0,
                model_id: str = "mmoe", shadow_model_id: str | None = None, ef_search: int = 1500,
                seed: int = 0) -> dict:
    """Build a server, replay ``n_requests``, write the landing zone (if ``out``) and return
    the latency report (also written to ``out/latency_report.json``)."""
    server = build_server(store, marts, model_id=model_id, shadow_model_id=shadow_model_id, budget_ms=budget_ms,
                          ef_search=ef_search, seed=seed)
    scorer = server.scorer
    requests = make_requests(scorer.snapshot.user_ids, n_requests, server.as_of, devices=server.devices, seed=seed)
    responses, seconds = replay(scorer, requests)
    shadow = scorer.shadow.close() if scorer.shadow is not None else []
    report = {"catalog_items": int(len(scorer.index.item_ids)), "n_requests": n_requests, "budget_ms": budget_ms,
              "model_id": model_id, "ef_search": scorer.index.ef_search,
              **latency_summary(responses, seconds),
              "recall_at_1000_vs_exact": recall_report(server),
              "build_seconds": server.build_seconds, "peak_memory_mb": peak_memory_mb()}
    if scorer.shadow is not None:
        report["shadow"] = {"model_id": shadow_model_id, "records": len(shadow), "dropped": scorer.shadow.dropped,
                            "errors": sum(r.error is not None for r in shadow),
                            "latency_ms": _percentiles([r.latency_ms for r in shadow])}
    if out is not None:
        dense = list(scorer.snapshot.encoder.dense)
        tables = {**landing_tables(responses, shadow, dense, dense), **dimension_tables(marts)}
        write_landing_zone(tables, Path(out))
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "latency_report.json").write_text(json.dumps(report, indent=2, default=str))
    return report
