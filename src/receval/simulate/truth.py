"""Ground truth: the attribution rule and the ``truth/`` folder. Models never read it.

Layout of ``<out>/truth/``
--------------------------
world.json
    preset, seed, dates (start, pre_period_end, main_start, end = last day, drift_start),
    row counts per entity (raw rows written, clean rows, fault rows, duplicate copies), the
    full config (eps, C, K, exploration / interleaving / shadow shares, delay parameters,
    bad and duplicate rates, click_window_minutes, attribution_window_days, clock skew),
    the experiments (arms, hash buckets, multipliers), the injected skew and drift, the
    broken partition, and q_W / q_A (probability a click / purchase delay is in its window).
impressions.parquet
    One row per CLEAN impression (no fault rows, no duplicate copies, landed before the end
    of the log; late ones included): event_id, request_id, user_id, item_id, position, ts,
    p_click (true), p_purchase_given_click (true), clicked, converted, revenue. The last
    three follow the attribution rule below. Written in row groups, one per day.
faults.parquet
    One row per injected bad raw row: entity, event_id, reason, file (relative to raw/).
    Every row of the broken impressions file is listed with reason schema_mismatch.
duplicates.parquet
    entity, event_id, extra_copies (landed redeliveries), conflicting (a copy's payload
    differs). The original is always the earliest partition.
experiments.parquet
    experiment_id, variant, metric, true_value, true_effect_abs, true_effect_rel, n_users
    (see :mod:`receval.simulate.experiments` for the metric definitions).
users.parquet, items.parquet
    Latent factors (f0..), biases, activity, experiment arm, category, price, created_at.
candidates.parquet (tiny and default only)
    request_id, item_id, attract (true, incl. the user's arm multiplier and the drift),
    p_purchase_given_click, prod_score: with world.json's examine_eta the true p_click of
    any candidate at any position is ``position ** -eta * attract``.

The attribution rule
--------------------
Using only clean events, click window W and attribution window A:

1. A click counts for an impression with the same request_id and item_id when
   0 <= click.ts - impression.ts <= W. ``clicked``: at least one counted click.
2. A purchase (user u, item i, time t) goes to the latest counted click of u on i with
   click.ts <= t <= click.ts + A; ties on click.ts go to the larger click event_id.
   Otherwise it is unattributed.
3. ``converted``: at least one purchase attributed to one of the impression's counted
   clicks; ``revenue``: their summed revenue (0 when none).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

LABEL_COLUMNS = ("clicked", "converted", "revenue")


def counted_clicks(impressions: pd.DataFrame, clicks: pd.DataFrame, window: pd.Timedelta) -> pd.DataFrame:
    """Rule 1: (click, impression) pairs where the click counts for the impression.

    Returns columns click_event_id, impression_event_id, user_id, item_id, ts (click ts).
    """
    imp = impressions[["event_id", "request_id", "item_id", "ts"]].rename(
        columns={"event_id": "impression_event_id", "ts": "impression_ts"})
    pairs = clicks[["event_id", "request_id", "user_id", "item_id", "ts"]].rename(
        columns={"event_id": "click_event_id"}).merge(imp, on=["request_id", "item_id"])
    dt = pairs["ts"] - pairs["impression_ts"]
    pairs = pairs[(dt >= pd.Timedelta(0)) & (dt <= window)]
    return pairs[["click_event_id", "impression_event_id", "user_id", "item_id", "ts"]].reset_index(drop=True)


def attribute_purchases(counted: pd.DataFrame, conversions: pd.DataFrame, window: pd.Timedelta) -> pd.DataFrame:
    """Rule 2: each conversion with the click_event_id it is attributed to (<NA> if none).

    A backward as-of join per (user_id, item_id): with the clicks sorted by (ts, event_id),
    the last click at or before the purchase is the latest one, the larger event_id on ties.
    """
    right = (counted[["click_event_id", "user_id", "item_id", "ts"]].drop_duplicates("click_event_id")
             .sort_values(["ts", "click_event_id"]).rename(columns={"ts": "click_ts"}))
    right["ts"] = right["click_ts"]
    left = conversions[["event_id", "user_id", "item_id", "ts", "revenue"]].sort_values(["ts", "event_id"])
    joined = pd.merge_asof(left, right, on="ts", by=["user_id", "item_id"], direction="backward")
    late = (joined["ts"] - joined["click_ts"]) > window
    joined["click_event_id"] = joined["click_event_id"].astype("Int64").mask(late)
    return joined[["event_id", "user_id", "item_id", "ts", "revenue", "click_event_id"]]


def impression_labels(impressions: pd.DataFrame, counted: pd.DataFrame, attributed: pd.DataFrame) -> pd.DataFrame:
    """Rule 3: ``impressions`` with clicked, converted and revenue added."""
    per_click = (attributed.dropna(subset=["click_event_id"]).groupby("click_event_id")["revenue"]
                 .agg(["size", "sum"]).rename(columns={"size": "n_conv", "sum": "revenue"}))
    per_imp = (counted.merge(per_click, left_on="click_event_id", right_index=True, how="left")
               .groupby("impression_event_id")[["n_conv", "revenue"]].sum())
    out = impressions.merge(per_imp, left_on="event_id", right_index=True, how="left")
    out["clicked"] = out["event_id"].isin(counted["impression_event_id"])
    out["converted"] = out["n_conv"].fillna(0) > 0
    out["revenue"] = out["revenue"].fillna(0.0).astype(float)
    return out.drop(columns="n_conv")


def label_impressions(impressions, clicks, conversions, click_window: pd.Timedelta,
                      attribution_window: pd.Timedelta) -> pd.DataFrame:
    """The whole rule in one call (for small data and tests)."""
    counted = counted_clicks(impressions, clicks, click_window)
    return impression_labels(impressions, counted, attribute_purchases(counted, conversions, attribution_window))


class TruthWriter:
    """Collects the truth day by day; labels need the whole log, so they are added at the end.

    Day chunks of impressions are spilled to a scratch folder, while the much smaller
    counted clicks and conversions stay in memory; :meth:`finish` attributes purchases once
    and streams the labelled chunks into impressions.parquet.
    """

    def __init__(self, truth_dir: Path, click_window: pd.Timedelta, attribution_window: pd.Timedelta):
        self.dir = truth_dir
        self.scratch = truth_dir / "_days"
        self.scratch.mkdir(parents=True)
        self.click_window, self.attribution_window = click_window, attribution_window
        self.days: list[Path] = []
        self.counted: list[pd.DataFrame] = []
        self.conversions: list[pd.DataFrame] = []
        self.faults: list[pd.DataFrame] = []
        self.duplicates: list[pd.DataFrame] = []
        self.candidates: pq.ParquetWriter | None = None

    def add_day(self, impressions: pd.DataFrame, clicks: pd.DataFrame, conversions: pd.DataFrame,
                candidates: pd.DataFrame | None) -> None:
        """Clean events of one generated day (a click's impression is always generated the same day)."""
        path = self.scratch / f"{len(self.days):04d}.parquet"
        pq.write_table(pa.Table.from_pandas(impressions, preserve_index=False), path)
        self.days.append(path)
        self.counted.append(counted_clicks(impressions, clicks, self.click_window))
        self.conversions.append(conversions)
        if candidates is not None:
            table = pa.Table.from_pandas(candidates, preserve_index=False)
            if self.candidates is None:
                self.candidates = pq.ParquetWriter(self.dir / "candidates.parquet", table.schema, compression="zstd")
            self.candidates.write_table(table)

    def add_faults(self, frame: pd.DataFrame) -> None:
        self.faults.append(frame)

    def add_duplicates(self, frame: pd.DataFrame) -> None:
        self.duplicates.append(frame)

    def finish(self, world_json: dict, tables: dict[str, pd.DataFrame]) -> None:
        """Label and write impressions, then the other tables and world.json."""
        if self.candidates is not None:
            self.candidates.close()
        counted = pd.concat(self.counted, ignore_index=True)
        attributed = attribute_purchases(counted, pd.concat(self.conversions, ignore_index=True),
                                         self.attribution_window)
        writer = None
        for path, day_counted in zip(self.days, self.counted):
            day = impression_labels(pd.read_parquet(path), day_counted, attributed)
            table = pa.Table.from_pandas(day, preserve_index=False)
            writer = writer or pq.ParquetWriter(self.dir / "impressions.parquet", table.schema, compression="zstd")
            writer.write_table(table)
        writer.close()
        shutil.rmtree(self.scratch)
        tables = {"faults": pd.concat(self.faults, ignore_index=True),
                  "duplicates": pd.concat(self.duplicates, ignore_index=True), **tables}
        for name, frame in tables.items():
            pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), self.dir / f"{name}.parquet",
                           compression="zstd")
        world_json["attributed_purchases"] = int(attributed["click_event_id"].notna().sum())
        world_json["unattributed_purchases"] = int(attributed["click_event_id"].isna().sum())
        write_world_json(self.dir, world_json)


def write_world_json(truth_dir: Path, world_json: dict) -> None:
    """``truth_dir``/world.json (numpy scalars as Python numbers)."""
    (truth_dir / "world.json").write_text(json.dumps(world_json, indent=2, default=_json_default) + "\n")


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value)}")
