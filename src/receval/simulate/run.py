"""Orchestration: build the world, generate day by day, inject faults, write raw and truth.

Memory stays bounded by one day of traffic plus the rows whose arrival hour is still open
(late events, redeliveries, delayed purchases): after each day every hour before the next
day is final and is written out.
"""
from __future__ import annotations

import shutil
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from receval.contract import CLOCK_SKEW_TOLERANCE_MINUTES
from receval.simulate.batch import Batch
from receval.simulate.config import US_PER_DAY, US_PER_HOUR, US_PER_S, SimConfig
from receval.simulate.events import DayGenerator, Ids
from receval.simulate.experiments import EffectAccumulator, assign_users, experiment_arms, window_probabilities
from receval.simulate.faults import FACT_ENTITIES, FaultInjector
from receval.simulate.policy_values import write_policy_values
from receval.simulate.truth import TruthWriter, write_world_json
from receval.simulate.world import COUNTRIES, DEVICES, World, build_world, dimension_batches
from receval.simulate.writer import PartitionWriter, partition_paths

CANDIDATE_EVENT_ID_BASE = 1_000_000_000_000


def simulate(cfg: SimConfig, seed: int, out: str | Path,
             on_day: Callable[[int], None] | None = None, until: str | None = None) -> dict:
    """Generate a world into ``out``/raw and ``out``/truth (both replaced) and return world.json.

    ``on_day`` is called after each simulated day (the CLI's progress bar). ``until`` (an
    ISO date) lands only the partitions that arrived by that day: the same world as seen on
    an earlier day, so that simulating again with a later ``until`` lands one more day of
    the same world, as a daily load would. The truth always describes the whole world;
    world.json records ``landed_until`` and the raw rows landed (``rows.raw_landed``).
    """
    out = Path(out)
    raw_dir, truth_dir = out / "raw", out / "truth"
    for d in (raw_dir, truth_dir):
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    world = build_world(cfg, rng)
    event_ids = Ids()
    n_dim = cfg.n_users + cfg.n_items
    delays = ((0.2 + rng.exponential(cfg.delivery_mean_s, n_dim)) * US_PER_S).astype(np.int64)
    writer = PartitionWriter(raw_dir, ("impressions", cfg.broken_hour_us))
    for entity, batch in dimension_batches(world, cfg, event_ids.take(n_dim), delays).items():
        writer.add(entity, batch)

    arms = experiment_arms(cfg)
    user_arm = assign_users(world.user_id, arms)
    effects = EffectAccumulator(cfg, arms, cfg.n_users)
    # The candidate log has its own random stream and event-id space (see DayGenerator).
    candidate_rng, candidate_ids = np.random.default_rng([seed, 1]), Ids(start=CANDIDATE_EVENT_ID_BASE)
    days = DayGenerator(cfg, world, rng, event_ids, arms, user_arm, effects, candidate_rng, candidate_ids)
    injector = FaultInjector(cfg, rng, event_ids)
    candidate_injector = FaultInjector(cfg, candidate_rng, candidate_ids)
    truth = TruthWriter(truth_dir, pd.Timedelta(minutes=cfg.click_window_minutes),
                        pd.Timedelta(days=cfg.attribution_window_days))
    clean_rows = dict.fromkeys(FACT_ENTITIES, 0)
    copies_rows = dict.fromkeys(FACT_ENTITIES, 0)
    request_policies: list[pd.DataFrame] = []   # for the true policy values (no randomness)

    for day in range(cfg.n_days):
        output = days.generate(day)
        req = output.batches["requests"].cols
        request_policies.append(pd.DataFrame({
            "request_id": req["request_id"],
            "model_id": np.array(req["model_id"].vocab, dtype=object)[req["model_id"].codes],
            "day": pd.Timestamp(cfg.start_us + day * US_PER_DAY, unit="us").date().isoformat()}))
        clean = {}
        for entity in FACT_ENTITIES:
            batch = output.batches[entity]
            batch = batch.take(batch.arrival < cfg.end_us)      # later arrivals have not landed
            broken = (batch.arrival // US_PER_HOUR * US_PER_HOUR == cfg.broken_hour_us) & (entity == "impressions")
            faults = candidate_injector if entity == "candidates" else injector
            copies, dup_table = faults.duplicates(entity, batch, ~broken, cfg.end_us,
                                                    cfg.broken_hour_us if entity == "impressions" else None)
            # Templates outside the broken hour: a bad row keeps its template's arrival.
            bad, reasons = faults.bad_rows(entity, batch.take(~broken))
            for part in (batch, copies, bad):
                writer.add(entity, part)
            truth.add_faults(_fault_frame(entity, bad, reasons))
            truth.add_faults(_fault_frame(entity, batch.take(broken), "schema_mismatch"))
            truth.add_duplicates(dup_table)
            clean[entity] = batch.take(~broken)
            clean_rows[entity] += len(clean[entity])
            copies_rows[entity] += len(copies)
        imp_truth = output.impressions_truth
        landed = np.isin(imp_truth["event_id"].to_numpy(), clean["impressions"].cols["event_id"])
        truth.add_day(imp_truth[landed].reset_index(drop=True), _frame(clean["clicks"]),
                      _frame(clean["conversions"]), output.candidates_truth)
        writer.flush(before_us=cfg.start_us + (day + 1) * US_PER_DAY)
        if on_day is not None:
            on_day(day)
    writer.flush()

    world_json = _world_json(cfg, seed, arms, writer.rows_written, clean_rows, copies_rows)
    truth.finish(world_json, {
        "experiments": effects.table(user_arm),
        "users": _users_frame(world, user_arm, arms),
        "items": _items_frame(world),
    })
    write_policy_values(truth_dir, cfg, pd.concat(request_policies, ignore_index=True))
    if until is not None:
        world_json = _land_until(raw_dir, truth_dir, world_json, until)
    return world_json


def _land_until(raw_dir: Path, truth_dir: Path, world_json: dict, until: str) -> dict:
    """Remove the raw partitions that arrived after ``until``; record what stays."""
    first, last = world_json["dates"]["start"], world_json["dates"]["end"]
    if not first <= date.fromisoformat(until).isoformat() <= last:
        raise ValueError(f"--until {until} lies outside the world's days {first} .. {last}")
    landed = {}
    for entity_dir in sorted(p for p in raw_dir.iterdir() if p.is_dir()):
        for partition in entity_dir.glob("date=*"):
            if partition.name.removeprefix("date=") > until:
                shutil.rmtree(partition)
        landed[entity_dir.name] = sum(pq.ParquetFile(f).metadata.num_rows for f in entity_dir.rglob("*.parquet"))
    world_json = {**world_json, "landed_until": until, "rows": {**world_json["rows"], "raw_landed": landed}}
    write_world_json(truth_dir, world_json)
    return world_json


def _frame(batch: Batch) -> pd.DataFrame:
    """Numeric columns of a clean batch as a DataFrame (for the attribution rule)."""
    cols = {k: v for k, v in batch.cols.items() if isinstance(v, np.ndarray)}
    cols["ts"] = cols["ts"].astype("datetime64[us]")
    return pd.DataFrame(cols)


def _fault_frame(entity: str, batch: Batch, reasons) -> pd.DataFrame:
    return pd.DataFrame({"entity": entity, "event_id": batch.cols["event_id"],
                         "reason": reasons, "file": partition_paths(entity, batch.arrival)},
                        columns=["entity", "event_id", "reason", "file"]).astype({"reason": object})


def _world_json(cfg: SimConfig, seed: int, arms, raw_rows, clean_rows, copies_rows) -> dict:
    q_w, q_a = window_probabilities(cfg)
    return {
        "preset": cfg.preset,
        "seed": seed,
        "dates": cfg.dates(),
        "rows": {"raw": raw_rows, "clean": clean_rows, "duplicate_copies": copies_rows},
        "config": cfg.to_dict(),
        "clock_skew_tolerance_minutes": CLOCK_SKEW_TOLERANCE_MINUTES,
        "policies": {
            "prod_v1": "epsilon-greedy top-K of C candidates by the production score; "
                       "propensity = (1-eps)*1[greedy rank = position] + eps/C",
            "uniform_random": "uniform ordered K-subset of the candidates; propensity = 1/C",
            "interleaved": "team-draft interleaving of prod_v1 (team A) and challenger_v1 (team B); "
                           "propensity null",
            "fallback_popular": "top-K candidates by previous-day popularity when the model times out "
                                "(status fallback); propensity null",
            "examine": "examine(position) = position ** -examine_eta",
        },
        "experiments": [asdict(a) for a in arms],
        "q_click_window": q_w,
        "q_attribution_window": q_a,
        # null when the simulation switched it off (factor 1, shift 0): nothing to detect.
        "skew": None if cfg.skew_factor == 1.0 else {
            "entity": "served_features", "feature": cfg.skew_feature, "device": cfg.skew_device,
            "factor": cfg.skew_factor,
            "description": f"{cfg.skew_feature} is served in cents (x{cfg.skew_factor:g}) on device "
                           f"'{cfg.skew_device}' (the request's device); elsewhere in dollars"},
        "drift": None if cfg.drift_logit_shift == 0.0 else {
            "start": cfg.dates()["drift_start"], "category": cfg.drift_category,
            "attract_logit_shift": cfg.drift_logit_shift,
            "description": f"from drift_start on, the true attractiveness logit of every item in "
                           f"{cfg.drift_category} rises by {cfg.drift_logit_shift}; the models do not know"},
        "broken_partition": partition_paths("impressions", np.array([cfg.broken_hour_us]))[0],
    }


def _users_frame(world: World, user_arm: np.ndarray, arms) -> pd.DataFrame:
    frame = pd.DataFrame(world.user_vec, columns=[f"f{j}" for j in range(world.user_vec.shape[1])])
    names = np.array([f"{a.experiment_id}:{a.variant}" for a in arms] + [None], dtype=object)
    return pd.DataFrame({
        "user_id": world.user_id, "user_bias": world.user_bias, "activity": world.user_activity,
        "signup_at": world.signup_at.astype("datetime64[us]"),
        "country": np.array(COUNTRIES, dtype=object)[world.user_country],
        "device": np.array(DEVICES, dtype=object)[world.user_device],
        "arm": names[user_arm],
    }).join(frame)


def _items_frame(world: World) -> pd.DataFrame:
    frame = pd.DataFrame(world.item_vec, columns=[f"f{j}" for j in range(world.item_vec.shape[1])])
    return pd.DataFrame({
        "item_id": world.item_id, "item_bias": world.item_bias, "purchase_bias": world.item_purchase_bias,
        "category": np.array(world.categories, dtype=object)[world.item_category], "price": world.price,
        "created_at": world.created_at.astype("datetime64[us]"), "brand": world.brand, "title": world.title,
    }).join(frame)
