"""Injected faults: bad records (one reject reason each) and at-least-once duplicates.

Bad records are *extra* rows: a clean row is copied, given a fresh event_id that no clean
event uses, and mutated so that it violates exactly one reject reason and none listed
before it in ``contract.REJECT_REASONS`` (keys stay non-null, ts stays plausible, and so
on). They never enter the clean world. Reasons are assigned round-robin per entity, so
every applicable kind appears as soon as an entity has that many bad rows.

Duplicates are redeliveries of clean rows with the same event_id and ts, always in a later
arrival hour than the original (so the earliest partition identifies the original); a
share of them carry a different payload (conflicting duplicates). Bad rows are never
duplicated.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from receval.contract import CLOCK_SKEW_TOLERANCE_MINUTES, ENTITY_SCHEMAS, KEY_COLUMNS, REJECT_REASONS
from receval.simulate.batch import Batch, Cat
from receval.simulate.config import US_PER_HOUR, US_PER_S, SimConfig
from receval.simulate.events import Ids

FACT_ENTITIES = ("requests", "impressions", "clicks", "conversions", "assignments",
                 "served_features", "shadow_scores", "candidates")
# Unknown ids live far above any real id, offset by the (unique) event id of the bad row.
UNKNOWN_ID_BASE = 9_000_000_000_000
# Payload column changed in a conflicting duplicate (entities without one only get exact copies).
CONFLICT_COLUMN = {"requests": "latency_ms", "impressions": "score", "conversions": "revenue",
                   "served_features": "feature_value", "shadow_scores": "score",
                   "candidates": "retrieval_score"}


def applicable_reasons(entity: str) -> tuple[str, ...]:
    """The reject reasons a bad row of ``entity`` can be injected with (schema_mismatch aside)."""
    cols = ENTITY_SCHEMAS[entity].names
    # non-finite numbers are not injected (the world stays as it was); tests write them
    only = {"non_finite_number": False, "invalid_propensity": entity == "impressions", "invalid_position": entity == "impressions",
            "negative_revenue": entity == "conversions", "unknown_user": "user_id" in cols,
            "unknown_item": "item_id" in cols}
    return tuple(r for r in REJECT_REASONS[1:] if only.get(r, True))


def _set_null(col, rows):
    """Set ``rows`` of a column to its null sentinel, in place."""
    if isinstance(col, Cat):
        col.codes[rows] = -1
    elif col.dtype.kind == "f":
        col[rows] = np.nan
    else:
        col[rows] = np.iinfo(col.dtype).min


class FaultInjector:
    """Draws bad rows and duplicates for each fact entity's clean rows of a day."""

    def __init__(self, cfg: SimConfig, rng: np.random.Generator, event_ids: Ids):
        self.cfg, self.rng, self.event_ids = cfg, rng, event_ids
        self.next_reason = dict.fromkeys(FACT_ENTITIES, 0)

    def bad_rows(self, entity: str, batch: Batch) -> tuple[Batch, np.ndarray]:
        """Binomial(len(batch), bad_rate) mutated copies and their reasons (object array)."""
        rng = self.rng
        pool = np.arange(len(batch))
        if entity == "served_features":    # templates with an item, so unknown_item is possible
            pool = pool[batch.cols["item_id"] >= 0]
        n_bad = int(rng.binomial(len(batch), self.cfg.bad_rate)) if len(pool) else 0
        kinds = applicable_reasons(entity)
        reasons = np.array(kinds, dtype=object)[(self.next_reason[entity] + np.arange(n_bad)) % len(kinds)]
        self.next_reason[entity] += n_bad
        bad = batch.take(rng.choice(pool, n_bad))
        bad.cols["event_id"] = self.event_ids.take(n_bad)
        cols = bad.cols

        rows = np.flatnonzero(reasons == "null_key")
        keys = [k for k in KEY_COLUMNS[entity] if k != "event_id"]
        which = rng.integers(0, len(keys), len(rows))
        for j, key in enumerate(keys):
            _set_null(cols[key], rows[which == j])

        rows = np.flatnonzero(reasons == "future_timestamp")
        hour_end = (bad.arrival[rows] // US_PER_HOUR + 1) * US_PER_HOUR
        margin_min = CLOCK_SKEW_TOLERANCE_MINUTES + rng.uniform(10, 600, len(rows))
        cols["ts"][rows] = hour_end + (margin_min * 60 * US_PER_S).astype(np.int64)

        rows = np.flatnonzero(reasons == "invalid_propensity")
        if len(rows):
            cols["propensity"][rows] = rng.choice([0.0, -0.25, 1.5], len(rows))
        rows = np.flatnonzero(reasons == "invalid_position")
        if len(rows):
            cols["position"][rows] = rng.choice(np.array([0, -1], np.int32), len(rows))
        rows = np.flatnonzero(reasons == "negative_revenue")
        if len(rows):
            cols["revenue"][rows] = -cols["revenue"][rows]
        for reason, key in (("unknown_user", "user_id"), ("unknown_item", "item_id")):
            rows = np.flatnonzero(reasons == reason)
            if len(rows):
                cols[key][rows] = UNKNOWN_ID_BASE + cols["event_id"][rows]
        return bad, reasons

    def duplicates(self, entity: str, batch: Batch, eligible: np.ndarray,
                   end_us: int, avoid_hour_us: int | None) -> tuple[Batch, pd.DataFrame]:
        """Redelivered copies of a share of eligible rows, and their truth rows.

        Copies arriving after ``end_us`` have not landed and are dropped; a copy that would
        land in ``avoid_hour_us`` (the broken partition) is moved one hour later.
        """
        rng, cfg = self.rng, self.cfg
        dup = np.flatnonzero(eligible & (rng.random(len(batch)) < cfg.dup_rate))
        extra = 1 + (rng.random(len(dup)) < cfg.second_copy_share)
        conflicting = (rng.random(len(dup)) < cfg.conflicting_share) & (entity in CONFLICT_COLUMN)
        src = np.repeat(dup, extra)
        copies = batch.take(src)
        wait = rng.exponential(2 * US_PER_HOUR, len(src)).astype(np.int64)
        copies.arrival = (copies.arrival // US_PER_HOUR + 1) * US_PER_HOUR + wait
        if avoid_hour_us is not None:
            copies.arrival += US_PER_HOUR * (copies.arrival // US_PER_HOUR * US_PER_HOUR == avoid_hour_us)
        changed = np.repeat(conflicting, extra)
        if changed.any():
            col = copies.cols[CONFLICT_COLUMN[entity]]
            # Scaled and shifted, so a zero (a common feature value) changes too.
            col[changed] = col[changed] * rng.uniform(0.5, 0.9, int(changed.sum())) + 1.0
        landed = copies.arrival < end_us
        copies = copies.take(landed)
        n_landed = np.bincount(np.repeat(np.arange(len(dup)), extra), landed, len(dup)).astype(int)
        n_conflict = np.bincount(np.repeat(np.arange(len(dup)), extra), landed & changed, len(dup))
        has = n_landed > 0
        table = pd.DataFrame({"entity": entity, "event_id": batch.cols["event_id"][dup][has],
                              "extra_copies": n_landed[has], "conflicting": n_conflict[has] > 0})
        return copies, table
