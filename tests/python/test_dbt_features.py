"""Integration: the point-in-time features (int_features__impressions) and the online
snapshot marts (fct_online_features_*) on the session's tiny build.

- every feature of every impression is recomputed here from the staging tables with an
  independent method (sorted event times per key and binary search, not running totals and
  ASOF joins);
- THE leakage test: the feature models are rebuilt on a copy of the landing zone where every
  event after a cut time T is deleted, and every impression before T must keep exactly the
  same features (its labels may change: that is the point);
- the online snapshot equals the same recomputation at the data's end.

The module builds only the feature models and their upstream (with their unit and data
tests), not the whole project.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import yaml

from dbt_runner import PROJECT_DIR, TINY_VARS, Warehouse
from receval.models.features import CATEGORICAL, DENSE, FeatureEncoder

pytestmark = pytest.mark.dbt

PROJECT_VARS = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())["vars"]
SMOOTHING = float(PROJECT_VARS["feature_te_smoothing"])
N_RECENT = int(PROJECT_VARS["feature_recent_items"])
LOOKBACK = int(PROJECT_VARS["feature_recent_items_lookback"])
US = {"1h": 3_600_000_000, "1d": 86_400_000_000, "7d": 7 * 86_400_000_000, "30d": 30 * 86_400_000_000}
FEATURES = [*CATEGORICAL, *DENSE, "user_recent_item_ids", "feature_ts"]
# Entities whose events are cut in the leakage test (users and items are dimensions: kept).
EVENT_ENTITIES = ("requests", "impressions", "clicks", "conversions", "served_features",
                  "shadow_scores", "assignments")


# ---- an independent reference of the definitions -------------------------------------------

def _us(series: pd.Series) -> np.ndarray:
    """Timestamps as int64 microseconds (NaT-free input)."""
    return series.astype("datetime64[us]").astype("int64").to_numpy()


def _keys(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """One string per row identifying its key; None where a key column is null (a null key
    matches nothing, as in SQL)."""
    parts = [frame[c].astype(object) for c in columns]
    return np.array([None if any(pd.isna(v) for v in row) else "|".join(map(str, row))
                     for row in zip(*parts)], dtype=object)


def count_in(events: pd.DataFrame, keys: list[str], points: pd.DataFrame, point_keys: list[str],
             window_us: int | None = None) -> np.ndarray:
    """Per point: events of its key with ts in [t - window, t) (window None: all before t).
    `events` has the keys and ts_us; `points` the point keys and t_us."""
    out = np.zeros(len(points), dtype=np.int64)
    if keys:
        sorted_ts = {k: np.sort(g["ts_us"].to_numpy())
                     for k, g in events.groupby(_keys(events, keys), dropna=True)}
        groups = pd.Series(_keys(points, point_keys)).groupby(_keys(points, point_keys), dropna=True).indices
    else:
        sorted_ts = {(): np.sort(events["ts_us"].to_numpy())}
        groups = {(): np.arange(len(points))}
    t_all = points["t_us"].to_numpy()
    for key, idx in groups.items():
        ts = sorted_ts.get(key)
        if ts is None:
            continue
        t = t_all[idx]
        before = np.searchsorted(ts, t, side="left")
        start = np.searchsorted(ts, t - window_us, side="left") if window_us is not None else 0
        out[idx] = before - start
    return out


def _rate(num, den):
    num, den = np.asarray(num, float), np.asarray(den, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def _te(successes, trials, prior_successes, prior_trials):
    prior = _rate(prior_successes, prior_trials)
    return (np.asarray(successes, float) + SMOOTHING * prior) / (np.asarray(trials, float) + SMOOTHING)


def _days(start: pd.Series, t_us: np.ndarray) -> np.ndarray:
    d = (t_us - _us(start)) / 86_400_000_000
    return np.maximum(d, 0.0)


def recent_items(user_events: dict, user_id, t: int) -> list[int]:
    """The first N_RECENT distinct items of the user's last LOOKBACK event times before t,
    most recent first; at one time clicks come first, then impressions by position."""
    events = user_events.get(user_id)
    if events is None:
        return []
    before = events[events["ts_us"] < t]
    times = np.sort(before["ts_us"].unique())[::-1][:LOOKBACK]
    before = before[before["ts_us"].isin(times)].sort_values(
        ["ts_us", "kind", "position", "item_id"], ascending=[False, True, True, True], na_position="first")
    seen: list[int] = []
    for item in before["item_id"]:
        if int(item) not in seen:
            seen.append(int(item))
    return seen[:N_RECENT]


class Events:
    """The events the features read, from a built warehouse."""

    def __init__(self, warehouse: Warehouse):
        items = warehouse.query("select item_id, category, brand, price, created_at from dim_items")
        self.items = items
        self.users = warehouse.query("select user_id, country, signup_at from dim_users")
        attrs = items.rename(columns={"category": "item_category", "brand": "item_brand"})[
            ["item_id", "item_category", "item_brand"]]
        imps = warehouse.query(
            "select user_id, item_id, position, impression_ts as ts from fct_impression_labels")
        clicks = warehouse.query("select user_id, item_id, ts from stg_landing__clicks")
        self.impressions = imps.merge(attrs, on="item_id", how="left").assign(ts_us=lambda f: _us(f.ts))
        self.clicks = clicks.merge(attrs, on="item_id", how="left").assign(ts_us=lambda f: _us(f.ts))
        self.purchases = warehouse.query("select item_id, ts from stg_landing__conversions").assign(
            ts_us=lambda f: _us(f.ts))
        recent = pd.concat([
            self.impressions.assign(kind=1)[["user_id", "ts_us", "kind", "position", "item_id"]],
            self.clicks.assign(kind=0, position=np.nan)[["user_id", "ts_us", "kind", "position", "item_id"]],
        ])
        self.user_events = {u: g for u, g in recent.groupby("user_id")}

    def user_features(self, points: pd.DataFrame) -> pd.DataFrame:
        """points: user_id, t_us."""
        out = pd.DataFrame(index=points.index)
        imp, clk = self.impressions, self.clicks
        for w in ("7d", "30d"):
            n_imp = count_in(imp, ["user_id"], points, ["user_id"], US[w])
            out[f"user_impressions_{w}"] = n_imp
            out[f"user_ctr_{w}"] = _rate(count_in(clk, ["user_id"], points, ["user_id"], US[w]), n_imp)
        out["user_id_te_ctr"] = _te(count_in(clk, ["user_id"], points, ["user_id"]),
                                    count_in(imp, ["user_id"], points, ["user_id"]),
                                    count_in(clk, [], points, []), count_in(imp, [], points, []))
        users = points[["user_id"]].merge(self.users, on="user_id", how="left")
        out["user_country"] = users["country"].to_numpy()
        out["user_tenure_days"] = _days(users["signup_at"], points["t_us"].to_numpy())
        out["user_recent_item_ids"] = [recent_items(self.user_events, u, t)
                                       for u, t in zip(points["user_id"], points["t_us"])]
        return out

    def user_category_features(self, points: pd.DataFrame) -> pd.DataFrame:
        """points: user_id, item_category, t_us."""
        key = ["user_id", "item_category"]
        cat_clicks = count_in(self.clicks, key, points, key, US["30d"])
        return pd.DataFrame({
            "user_category_impressions_30d": count_in(self.impressions, key, points, key, US["30d"]),
            "user_category_click_share_30d": _rate(
                cat_clicks, count_in(self.clicks, ["user_id"], points, ["user_id"], US["30d"])),
        }, index=points.index)

    def item_features(self, points: pd.DataFrame) -> pd.DataFrame:
        """points: item_id, t_us."""
        out = pd.DataFrame(index=points.index)
        imp, clk, buy = self.impressions, self.clicks, self.purchases
        for w in ("1h", "1d"):
            n_imp = count_in(imp, ["item_id"], points, ["item_id"], US[w])
            out[f"item_impressions_{w}"] = n_imp
            out[f"item_ctr_{w}"] = _rate(count_in(clk, ["item_id"], points, ["item_id"], US[w]), n_imp)
        g_imp, g_clk, g_buy = (count_in(e, [], points, []) for e in (imp, clk, buy))
        i_imp = count_in(imp, ["item_id"], points, ["item_id"])
        out["item_id_te_ctr"] = _te(count_in(clk, ["item_id"], points, ["item_id"]), i_imp, g_clk, g_imp)
        out["item_id_te_cvr"] = _te(count_in(buy, ["item_id"], points, ["item_id"]), i_imp, g_buy, g_imp)
        items = points[["item_id"]].merge(self.items, on="item_id", how="left")
        branded = points.assign(item_brand=items["brand"].to_numpy())
        out["item_brand_te_ctr"] = _te(count_in(clk, ["item_brand"], branded, ["item_brand"]),
                                       count_in(imp, ["item_brand"], branded, ["item_brand"]), g_clk, g_imp)
        out["item_category"] = items["category"].to_numpy()
        out["item_brand"] = items["brand"].to_numpy()
        out["item_price"] = items["price"].to_numpy()
        out["item_age_days"] = _days(items["created_at"], points["t_us"].to_numpy())
        return out


def assert_same(actual: pd.DataFrame, expected: pd.DataFrame, columns, what: str) -> None:
    """Column by column: lists and strings exactly, numbers to 1e-9, nulls in the same rows."""
    for column in columns:
        a, e = actual[column].reset_index(drop=True), expected[column].reset_index(drop=True)
        if column == "user_recent_item_ids":
            bad = [i for i, (x, y) in enumerate(zip(a, e)) if list(x) != list(y)]
        elif not (pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(e)):
            a, e = a.astype(object), e.astype(object)
            same = [(pd.isna(x) and pd.isna(y)) or (not pd.isna(x) and not pd.isna(y) and x == y)
                    for x, y in zip(a, e)]
            bad = np.flatnonzero(~np.array(same, dtype=bool)).tolist()
        else:
            x, y = a.to_numpy(float), e.to_numpy(float)
            same = np.isclose(x, y, rtol=1e-9, atol=1e-12) | (np.isnan(x) & np.isnan(y))
            bad = np.flatnonzero(~same).tolist()
        assert not bad, (f"{what}: {column} differs in {len(bad)} rows, e.g. "
                         f"actual {a.iloc[bad[0]]!r} vs expected {e.iloc[bad[0]]!r} (row {bad[0]})")


# ---- fixtures --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def warehouse(tiny_warehouse) -> Warehouse:
    """The whole project built on the tiny world (features, their unit and data tests included)."""
    return tiny_warehouse


@pytest.fixture(scope="module")
def features(warehouse) -> pd.DataFrame:
    return warehouse.query("select * from int_features__impressions order by event_id")


@pytest.fixture(scope="module")
def events(warehouse) -> Events:
    return Events(warehouse)


@pytest.fixture(scope="module")
def expected(features, events) -> pd.DataFrame:
    """The reference features of every impression, at the request's first impression time."""
    points = features[["event_id", "request_id", "user_id", "item_id", "impression_ts"]].copy()
    points["t_us"] = points.groupby("request_id")["impression_ts"].transform("min").pipe(_us)
    items = events.items.set_index("item_id")
    points["item_category"] = items["category"].reindex(points["item_id"]).to_numpy()
    frame = pd.concat([
        points,
        events.user_features(points),
        events.item_features(points).drop(columns=["item_category"]),
        events.user_category_features(points),
    ], axis=1)
    frame["item_in_user_recent"] = [float(item in recent) for item, recent
                                    in zip(frame["item_id"], frame["user_recent_item_ids"])]
    return frame


# ---- tests -----------------------------------------------------------------------------------

def test_one_row_per_impression_with_the_model_contract(warehouse, features):
    labels = warehouse.query("select event_id from fct_impression_labels order by event_id")
    assert features["event_id"].tolist() == labels["event_id"].tolist()
    missing = [c for c in (*CATEGORICAL, *DENSE) if c not in features.columns]
    assert not missing, f"int_features__impressions lacks contract columns {missing}"
    assert (features["feature_ts"] <= features["impression_ts"]).all()
    assert set(features["split"]) <= {"train", "validation", "test", "out_of_window"}
    # what the candidate models do with it: fit on train, encode every row
    table = pa.Table.from_pandas(features.drop(columns=["user_recent_item_ids"]), preserve_index=False)
    train = table.filter(pc.equal(table["split"], "train"))
    matrix = FeatureEncoder.fit(train, dense=DENSE).transform(table)
    assert matrix.dense.shape == (len(features), len(DENSE))
    assert np.isfinite(matrix.dense).all()


def test_every_feature_matches_an_independent_recomputation(features, expected):
    context = ("user_id", "item_id", "feature_ts", "position", "device", "hour_of_day")
    columns = [c for c in FEATURES if c not in context]
    assert_same(features, expected, columns, "int_features__impressions")
    # the sample is not degenerate: every window and encoding has non-trivial values
    assert (features["item_impressions_1h"] > 0).mean() > 0.5
    assert (features["user_impressions_7d"] > 0).mean() > 0.5
    assert features["item_in_user_recent"].between(0, 1).all() and features["item_in_user_recent"].sum() > 0
    assert features["user_category_click_share_30d"].dropna().between(0, 1).all()
    assert features["item_id_te_ctr"].notna().mean() > 0.99


def test_device_and_hour_are_the_requests_context(warehouse, features):
    requests = warehouse.query("select request_id, device from stg_landing__requests")
    merged = features[["request_id"]].merge(requests, on="request_id", how="left")
    assert (features["device"].to_numpy() == merged["device"].fillna("unknown").to_numpy()).all()
    assert (features["hour_of_day"].to_numpy() == features["impression_ts"].dt.hour.to_numpy()).all()


def _cut_landing_zone(raw: Path, out: Path, cut: np.datetime64) -> dict[str, int]:
    """Copy the landing zone, deleting every event with ts after `cut` (users and items are
    dimensions: copied whole). A file left with no rows is not written. Returns rows deleted
    per entity."""
    deleted = {}
    for path in sorted(raw.rglob("*.parquet")):
        rel = path.relative_to(raw)
        entity = rel.parts[0]
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        table = pq.ParquetFile(path).read()
        if entity in EVENT_ENTITIES:
            ts = table["ts"]
            keep = pc.or_kleene(pc.is_null(ts), pc.less_equal(ts, pa.scalar(cut, type=ts.type)))
            kept = table.filter(keep)
            deleted[entity] = deleted.get(entity, 0) + table.num_rows - kept.num_rows
            table = kept
            if table.num_rows == 0:
                continue
        pq.write_table(table, target)
    return deleted


def test_features_before_a_cut_do_not_change_when_the_future_is_deleted(
        tiny_world, features, tmp_path_factory):
    # T: an impression time about 60% into the world (so events exactly at T are kept)
    times = np.sort(features["impression_ts"].unique())
    cut = times[int(len(times) * 0.6)]
    root = tmp_path_factory.mktemp("features_cut")
    deleted = _cut_landing_zone(tiny_world / "raw", root / "raw", cut)
    assert deleted["impressions"] > 0 and deleted["clicks"] > 0 and deleted["conversions"] > 0

    cut_warehouse = Warehouse(root / "warehouse", root / "raw", TINY_VARS)
    cut_warehouse.dbt("seed")
    cut_warehouse.dbt("run", "--select", "+int_features__impressions")
    cut_features = cut_warehouse.query("select * from int_features__impressions order by event_id")

    before = features[features["impression_ts"] < cut].reset_index(drop=True)
    after_cut = cut_features[cut_features["impression_ts"] < cut].reset_index(drop=True)
    assert len(before) > 1000
    assert before["event_id"].tolist() == after_cut["event_id"].tolist()
    assert (cut_features["impression_ts"] <= cut).all()
    assert_same(after_cut, before, FEATURES, "features of impressions before the cut")
    # ... while the labels, which look ahead, did change: the cut removed real information
    label_changed = ((after_cut["is_clicked"] != before["is_clicked"])
                     | (after_cut["is_converted"] != before["is_converted"])
                     | (after_cut["is_label_mature"] != before["is_label_mature"]))
    assert label_changed.any()


@pytest.mark.parametrize("batch_rows", [1, 10**9])
def test_day_batches_give_the_same_features_as_one_query(warehouse, tmp_path, batch_rows):
    """The session built the features in day batches of at most 10,000 impressions
    (TINY_VARS); rebuilt on a copy of its warehouse with a batch per day (1 row: a day is
    never split) and as one batch, the table is the same to the last bit."""
    copy = Warehouse(tmp_path, warehouse.raw_path, {**TINY_VARS, "feature_batch_rows": batch_rows})
    shutil.copy(warehouse.database, copy.database)
    days = warehouse.query("select count(distinct impression_date) as n from int_labels__impressions").n[0]
    result = copy.dbt("run", "--select", "int_features__impression_features", "--full-refresh")
    assert f"{days if batch_rows == 1 else 1} batch(es) of days" in result.stdout
    table = "select * from int_features__impression_features order by event_id"
    pd.testing.assert_frame_equal(copy.query(table), warehouse.query(table))


def test_incremental_features_rebuild_from_the_earliest_late_event(warehouse, tmp_path):
    """The last two landed days held back, the features built, then both landed at once and
    built incrementally with no look-back day: the first held-back day's partitions hold
    impressions (and clicks) of days before the table's last day, which change every
    feature after them, so the run must rebuild from the earliest of them (the landed_at
    watermark), and the table must equal the session's full build to the last bit."""
    raw = shutil.copytree(warehouse.raw_path, tmp_path / "raw")
    held = sorted(p.name for p in (raw / "impressions").iterdir())[-2:]
    late = pd.concat([pd.read_parquet(f) for f in (raw / "impressions" / held[0]).rglob("*.parquet")])
    first_held = pd.Timestamp(held[0].removeprefix("date="))
    assert (pd.to_datetime(late["ts"]).dt.normalize() < first_held - pd.Timedelta(days=1)).any()
    for day in held:
        for partition in raw.glob(f"*/{day}"):
            shutil.move(partition, tmp_path / "held" / partition.parent.name / day)
    incremental = Warehouse(tmp_path / "warehouse", raw, {**TINY_VARS, "feature_lookback_days": 0})
    incremental.dbt("seed")
    incremental.dbt("run", "--select", "+int_features__impression_features")
    for day in held:
        for partition in (tmp_path / "held").glob(f"*/{day}"):
            shutil.move(partition, raw / partition.parent.name / day)
    result = incremental.dbt("run", "--select", "+int_features__impression_features")
    assert "batch(es) of days from" in result.stdout
    table = "select * from int_features__impression_features order by event_id"
    pd.testing.assert_frame_equal(incremental.query(table), warehouse.query(table))


def test_online_snapshot_is_the_same_definitions_at_the_data_end(warehouse, events):
    as_of = warehouse.query("select as_of from int_labels__data_end")["as_of"].iloc[0]
    t_us = int(_us(pd.Series([as_of]))[0])

    users = warehouse.query("select * from fct_online_features_users order by user_id")
    assert users["user_id"].tolist() == sorted(events.users["user_id"].tolist())
    assert (users["feature_ts"] == as_of).all()
    user_points = users[["user_id"]].assign(t_us=t_us)
    assert_same(users, events.user_features(user_points),
                ["user_impressions_7d", "user_ctr_7d", "user_impressions_30d", "user_ctr_30d",
                 "user_id_te_ctr", "user_country", "user_tenure_days", "user_recent_item_ids"],
                "fct_online_features_users")
    assert (users["user_impressions_7d"] > 0).mean() > 0.5

    items = warehouse.query("select * from fct_online_features_items order by item_id")
    assert items["item_id"].tolist() == sorted(events.items["item_id"].tolist())
    item_points = items[["item_id"]].assign(t_us=t_us)
    assert_same(items, events.item_features(item_points),
                ["item_impressions_1h", "item_ctr_1h", "item_impressions_1d", "item_ctr_1d",
                 "item_id_te_ctr", "item_id_te_cvr", "item_brand_te_ctr", "item_category",
                 "item_brand", "item_price", "item_age_days"],
                "fct_online_features_items")
    assert items["item_impressions_1d"].sum() > 0

    pairs = warehouse.query(
        "select * from fct_online_features_user_categories order by user_id, item_category")
    n_categories = events.items["category"].nunique()
    assert len(pairs) == len(events.users) * n_categories
    pair_points = pairs[["user_id", "item_category"]].assign(t_us=t_us)
    assert_same(pairs, events.user_category_features(pair_points),
                ["user_category_impressions_30d", "user_category_click_share_30d"],
                "fct_online_features_user_categories")
    assert pairs["user_category_impressions_30d"].sum() > 0


def test_feature_skew_finds_the_injected_skew_and_only_it(warehouse, tiny_cfg):
    skew = warehouse.query("select * from fct_feature_skew").set_index(["feature_name", "device"])
    price = skew.loc["item_price"]
    # The simulator serves item_price in cents on one device (its known injected skew).
    assert price.loc[tiny_cfg.skew_device, "geometric_mean_ratio"] == pytest.approx(tiny_cfg.skew_factor)
    assert price.loc[tiny_cfg.skew_device, "mismatch_rate"] == 1.0
    for device in {"ios", "android", "web"} - {tiny_cfg.skew_device}:
        assert price.loc[device, "mismatch_rate"] == 0.0
        assert price.loc[device, "geometric_mean_ratio"] == pytest.approx(1.0)
    # Every served value is counted once: item-level values on the device of the impression
    # they were served with, user-level ones on their request's device.
    served = warehouse.query("""
        select feature_name, request_id, item_id from stg_landing__served_features
        where feature_name in ('user_ctr_7d', 'item_ctr_1d', 'item_price')""")
    impressions = warehouse.query("select request_id, item_id, device from int_features__impressions")
    by_item = served.merge(impressions, on=["request_id", "item_id"], how="left")
    by_request = served.merge(impressions.groupby("request_id").device.min().reset_index(), on="request_id",
                              how="left")
    device = np.where(served.item_id.isna(), by_request.device, by_item.device)
    expected = pd.Series(1, index=pd.MultiIndex.from_arrays(
        [served.feature_name, pd.Series(device).fillna("unmatched")])).groupby(level=[0, 1]).sum()
    assert skew.n_served.sort_index().tolist() == expected.sort_index().tolist()
    assert list(skew.n_served.sort_index().index) == list(expected.sort_index().index)
