"""rolling_drift_table against feature_drift (and scipy) on the explicitly filtered rows of
each day's own reference window; feature_drift_mart's var checks and sources."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from scipy import stats

import receval.monitoring.rolling_cells as rolling_cells
from receval.monitoring import feature_drift
from receval.monitoring.features import feature_drift_mart, feature_drift_mart_schema
from receval.monitoring.rolling import rolling_drift_schema, rolling_drift_table
from receval.monitoring.rolling_cells import _quantiles_from_order_stats
from receval.warehouse import ColumnReader

D0 = dt.date(2026, 9, 1)
N_DAYS = 12
FIRST_X = D0 + dt.timedelta(days=2)


def day(i: int) -> dt.date:
    return D0 + dt.timedelta(days=int(i))


def frame(seed=0, n=6000, n_days=N_DAYS):
    """Rows over n_days days: a tied numeric feature with NaN / +-inf, a continuous one, a
    categorical one with nulls and a category that appears late, a fixed `model` grouping
    and a `device` segment with nulls (one device absent on some days)."""
    rng = np.random.default_rng(seed)
    d = rng.integers(0, n_days, n)
    device = rng.choice(np.array(["android", "ios", "web", None], dtype=object), n, p=[0.4, 0.3, 0.2, 0.1])
    device[(device == "web") & (d % 5 == 0)] = "ios"
    x = np.round(rng.normal(size=n) + 0.1 * d, 1)
    x[rng.random(n) < 0.05] = np.nan
    x[rng.random(n) < 0.01] = np.inf
    x[rng.random(n) < 0.01] = -np.inf
    y = rng.exponential(size=n) * (1 + (d > 7))
    cat = rng.choice(np.array(["u", "v", "w", None], dtype=object), n)
    cat[(d > 8) & (rng.random(n) < 0.3)] = "late"
    return pa.table({
        "day": pa.array([day(i) for i in d], pa.date32()),
        "model": rng.choice(["m1", "m2"], n),
        "device": pa.array(device, pa.string()),
        "x": x, "y": y, "cat": pa.array(cat, pa.string()),
    })


def windows_for(starts, ends, n_days=N_DAYS, period="analysis"):
    return pa.table({
        "day": pa.array([day(i) for i in range(n_days)], pa.date32()),
        "reference_start_date": pa.array([day(s) for s in starts], pa.date32()),
        "reference_end_date": pa.array([day(e) for e in ends], pa.date32()),
        "period": [period] * n_days,
    })


def trailing(length=4, lag=2, n_days=N_DAYS):
    return windows_for([i - length - lag + 1 for i in range(n_days)], [i - lag for i in range(n_days)], n_days)


FEATURES = {"x": "numeric", "y": "numeric", "cat": "categorical"}


def check_every_row(rows, out, first_days, by=("model",), min_reference_days=1):
    """Each output row against feature_drift on the rows it stands for."""
    d = np.array(rows.column("day").to_pylist())
    device = np.array(["unknown" if v is None else v for v in rows.column("device").to_pylist()], dtype=object)
    cols = {c: rows.column(c).to_numpy(zero_copy_only=False) for c in rows.column_names if c not in ("day", "device")}
    df = out.to_pandas()
    assert len(df) > 0
    checked = 0
    for r in df.itertuples():
        seg = np.ones(d.size, bool) if r.segment_type == "all" else device == r.segment
        for c in by:
            seg &= cols[c] == getattr(r, c)
        cur = seg & (d == r.day)
        assert r.n_current == cur.sum()
        first = first_days.get(r.feature, dt.date.min)
        if r.reference_start_date is None:
            assert r.n_reference == 0 and r.status == "warm_up"
            continue
        assert r.reference_start_date >= first
        ref = seg & (d >= r.reference_start_date) & (d <= r.reference_end_date)
        assert r.n_reference_days == len(set(d[ref]))
        assert r.status == "warm_up" or (r.day >= first and r.n_reference_days >= min_reference_days)
        if ref.sum() == 0:
            assert r.n_reference == 0 and np.isnan(r.psi) and np.isnan(r.statistic) and r.status == "warm_up"
            continue
        one = feature_drift(cols[r.feature][ref], cols[r.feature][cur], kind=r.kind)
        assert (r.n_reference, r.n_missing_reference, r.n_missing_current, r.n_bins) == \
            (one.n_reference, one.n_missing_reference, one.n_missing_current, one.n_bins), r
        for key in ("psi", "js_distance", "statistic", "p_value"):
            assert getattr(r, key) == pytest.approx(getattr(one, key), rel=1e-12, abs=1e-12, nan_ok=True), (r, key)
        if r.status != "warm_up":
            assert r.status == ("alert" if one.psi >= 0.25 else "warn" if one.psi >= 0.1 else "ok")
        if r.kind == "numeric":
            a, b = cols[r.feature][ref], cols[r.feature][cur]
            a, b = a[~np.isnan(a)], b[~np.isnan(b)]
            if a.size and b.size:
                assert r.statistic == stats.ks_2samp(a, b).statistic
        checked += 1
    return checked


@pytest.mark.parametrize("dense", [True, False], ids=["counted", "sorted"])
def test_every_row_equals_feature_drift_on_its_window(dense, monkeypatch):
    if not dense:  # every numeric feature through the sliding sorted path
        monkeypatch.setattr(rolling_cells, "DENSE_MAX_CELLS", 0)
    rows = frame()
    first_days = {"x": FIRST_X}
    out = rolling_drift_table(rows, FEATURES, day="day", windows=trailing(), by=["model"],
                              segments=["device"], first_days=first_days, min_reference_days=3)
    assert out.schema == rolling_drift_schema("day", [rows.schema.field("model")])
    assert check_every_row(rows, out, first_days, min_reference_days=3) > 200
    df = out.to_pandas()
    # x's first days are warm-up and never a reference
    assert (df.status[(df.feature == "x") & (df.day < FIRST_X)] == "warm_up").all()
    assert (df.reference_start_date[(df.feature == "x") & df.reference_start_date.notna()] >= FIRST_X).all()
    # sorted by day, model, segment type (all first), segment, then features in order
    keys = list(zip(df.day, df.model, df.segment_type != "all", df.segment, df.feature.map(list(FEATURES).index)))
    assert keys == sorted(keys)
    assert set(df.segment) == {"all", "android", "ios", "web", "unknown"}


def test_arbitrary_windows_move_both_ways(monkeypatch):
    """Windows that jump back and forth, overlap the day itself or lie before the data."""
    monkeypatch.setattr(rolling_cells, "DENSE_MAX_CELLS", 0)
    rng = np.random.default_rng(3)
    starts = rng.integers(-3, N_DAYS, N_DAYS)
    ends = starts + rng.integers(-1, 6, N_DAYS)
    rows = frame(seed=1, n=3000)
    out = rolling_drift_table(rows, FEATURES, day="day", windows=windows_for(starts, ends), by=["model"],
                              segments=["device"], first_days={"x": FIRST_X})
    assert check_every_row(rows, out, {"x": FIRST_X}) > 100


def test_large_samples_asymptotic_p_values(monkeypatch):
    """Past 10,000 values a side: scipy's kstwo p-value (= feature_drift), or the limit."""
    rng = np.random.default_rng(5)
    n = 60_000
    d = rng.integers(0, 4, n)
    x = rng.normal(size=n) + 0.02 * d
    rows = pa.table({"day": pa.array([day(i) for i in d], pa.date32()), "device": ["a"] * n, "x": x,
                     "k": np.round(x, 1)})
    windows = windows_for([0, 0, 0, 0], [-1, 0, 1, 2], n_days=4)
    feats = {"x": "numeric", "k": "numeric"}
    for dense in (True, False):
        monkeypatch.setattr(rolling_cells, "DENSE_MAX_CELLS", 1 << 22 if dense else 0)
        out = rolling_drift_table(rows, feats, day="day", windows=windows)
        assert check_every_row(rows, out, {}, by=()) == 6
        limit = rolling_drift_table(rows, feats, day="day", windows=windows, ks_p_value="limit").to_pandas()
        for r in limit.dropna(subset=["statistic"]).itertuples():
            en = r.n_reference * r.n_current / (r.n_reference + r.n_current)
            assert r.p_value == pytest.approx(stats.kstwobign.sf(r.statistic * np.sqrt(en)), rel=1e-12)


def test_quantile_edges_are_numpys():
    rng = np.random.default_rng(11)
    for _ in range(300):
        n = int(rng.integers(1, 60))
        s = np.sort(np.round(rng.normal(size=n) * 10.0 ** rng.integers(-3, 4), int(rng.integers(0, 3))))
        q = np.linspace(0.0, 1.0, int(rng.integers(1, 25)) + 1)
        got = _quantiles_from_order_stats(lambda j: s[j], n, q)
        assert np.array_equal(got, np.quantile(s, q))


def test_warm_up_period_and_reference_columns():
    rows = frame(seed=2, n=2000)
    w = trailing(length=3, lag=1)
    out = rolling_drift_table(rows, {"x": "numeric"}, day="day", windows=w, first_days={"x": FIRST_X},
                              min_reference_days=3).to_pandas()
    alls = out[out.segment_type == "all"].set_index("day")
    # day d's window is [d - 3, d - 1]: from FIRST_X on only, it has 3 days from FIRST_X + 3
    assert (alls.status[alls.index < FIRST_X + dt.timedelta(days=3)] == "warm_up").all()
    assert (alls.status[alls.index >= FIRST_X + dt.timedelta(days=3)] != "warm_up").all()
    assert alls.loc[FIRST_X, "reference_start_date"] is None and alls.loc[FIRST_X, "n_reference"] == 0
    assert alls.loc[FIRST_X + dt.timedelta(days=1), "reference_start_date"] == FIRST_X
    assert alls.loc[FIRST_X + dt.timedelta(days=1), "n_reference_days"] == 1
    assert (alls.period == "analysis").all()


def test_empty_rows_and_bad_inputs():
    rows = frame(n=500)
    empty = rolling_drift_table(rows.slice(0, 0), FEATURES, day="day", windows=trailing(), segments=["device"])
    assert empty.num_rows == 0 and empty.schema == rolling_drift_schema("day")
    with pytest.raises(ValueError, match="no row for .* the first 2026-09-12"):
        rolling_drift_table(rows, FEATURES, day="day", windows=trailing(n_days=N_DAYS - 1))
    with pytest.raises(ValueError, match="features\\['x'\\]"):
        rolling_drift_table(rows, {"x": "numerc"}, day="day", windows=trailing())
    with pytest.raises(ValueError, match="feature `nope`"):
        rolling_drift_table(rows, {"nope": "numeric"}, day="day", windows=trailing())
    with pytest.raises(ValueError, match="`segments` column `os`"):
        rolling_drift_table(rows, FEATURES, day="day", windows=trailing(), segments=["os"])
    with pytest.raises(ValueError, match="`first_days` names `cat2`"):
        rolling_drift_table(rows, FEATURES, day="day", windows=trailing(), first_days={"cat2": D0})
    with pytest.raises(ValueError, match="`windows` has no column `period`"):
        rolling_drift_table(rows, FEATURES, day="day", windows=trailing().drop_columns(["period"]))
    with pytest.raises(ValueError, match="declared numeric"):
        rolling_drift_table(rows, {"cat": "numeric"}, day="day", windows=trailing())


# ------------------------------------------------------------------------ the mart
def mart_inputs(n=3000):
    rows = frame(seed=4, n=n).rename_columns(["impression_date", "model", "device", "x", "y", "cat"])
    w = trailing().rename_columns(["impression_date", "reference_start_date", "reference_end_date", "period"])
    return rows, w


SPEC = [{"name": "x", "kind": "numeric", "window_days": 2}, {"name": "cat", "kind": "categorical", "window_days": 0}]


def test_mart_sources_first_days_and_thresholds():
    rows, w = mart_inputs()
    served = rows.select(["impression_date", "device", "y"])
    out = feature_drift_mart(rows, served, w, features=SPEC, served_features=[{"name": "y", "kind": "numeric"}],
                             segments=["device"], min_reference_days=2, warn=0.05, alert=0.2)
    assert out.schema == feature_drift_mart_schema()
    df = out.to_pandas()
    assert set(zip(df.source, df.feature)) == {("warehouse", "x"), ("warehouse", "cat"), ("served", "y")}
    assert (df.psi_warn == 0.05).all() and (df.psi_alert == 0.2).all()
    x = df[df.feature == "x"]
    assert (x.window_days == 2).all()
    # x's first day is the windows' first day + 2: earlier days warm up, never a reference
    assert (x.status[x.impression_date < FIRST_X] == "warm_up").all()
    assert (x.reference_start_date.dropna() >= FIRST_X).all()
    direct = rolling_drift_table(served, {"y": "numeric"}, day="impression_date", windows=w, segments=["device"],
                                 min_reference_days=2, warn=0.05, alert=0.2, ks_p_value="limit").to_pandas()
    mine = df[df.source == "served"].reset_index(drop=True)
    for col in ("psi", "statistic", "p_value", "status", "segment"):
        assert mine[col].equals(direct[col]), col
    # no served rows (a landing zone without served_features): the warehouse rows only
    alone = feature_drift_mart(rows, served.slice(0, 0), w, features=SPEC,
                               served_features=[{"name": "y", "kind": "numeric"}], segments=["device"])
    assert set(alone.column("source").to_pylist()) == {"warehouse"}
    assert feature_drift_mart(rows.slice(0, 0), served.slice(0, 0), w.slice(0, 0), features=SPEC,
                              served_features=[], segments=[]).num_rows == 0


class ShuffledReader(ColumnReader):
    """Each read returns its rows in an order of its own, as a DuckDB scan may."""

    def __init__(self, table, seed):
        super().__init__(table)
        self.rng, self.reads = np.random.default_rng(seed), []

    def read(self, columns):
        self.reads.append(list(columns))
        return super().read(columns).take(pa.array(self.rng.permutation(self.relation.num_rows)))


def test_mart_read_a_feature_at_a_time_in_any_row_order_gives_the_same_rows():
    rows, w = mart_inputs()
    served = rows.select(["impression_date", "device", "y", "x"])
    both = [{"name": "y", "kind": "numeric"}, {"name": "x", "kind": "numeric", "window_days": 1}]
    kwargs = dict(features=SPEC, served_features=both, segments=["device"], min_reference_days=2)
    whole = feature_drift_mart(rows, served, w, **kwargs)
    readers = ShuffledReader(rows, 1), ShuffledReader(served, 2)
    # read_values below one feature's values still reads one feature at a time
    batched = feature_drift_mart(*readers, w, read_values=rows.num_rows // 2, **kwargs)
    assert [r[-1:] for r in readers[0].reads + readers[1].reads] == [["x"], ["cat"], ["y"], ["x"]]
    assert readers[0].reads[0] == ["impression_date", "device", "x"]
    assert batched.equals(whole)
    pairs = feature_drift_mart(ShuffledReader(rows, 3), ShuffledReader(served, 4), w,
                               read_values=2 * rows.num_rows, **kwargs)
    assert pairs.equals(whole)
    alone = feature_drift_mart(rows, served, w, read_values=1, **dict(kwargs, served_features=[]))
    assert alone.equals(whole.filter(pc.equal(whole.column("source"), "warehouse")))
    with pytest.raises(ValueError, match="read_values"):
        feature_drift_mart(rows, served, w, read_values=0, **kwargs)


@pytest.mark.parametrize("features, served, segments, message", [
    ([{"name": "price", "kind": "numeric", "window_days": 0}], [], [],
     "var monitoring_features: feature 'price' is not a column of the warehouse rows"),
    ([{"name": "x", "kind": "numerical", "window_days": 0}], [], [],
     "var monitoring_features: feature 'x' has kind 'numerical'"),
    ([{"name": "x", "kind": "numeric", "window_days": -1}], [], [],
     "var monitoring_features: feature 'x' has window_days -1"),
    ([{"name": "x", "kind": "numeric", "days": 1}], [], [], "var monitoring_features: each entry"),
    (SPEC, [{"name": "z", "kind": "numeric"}], [],
     "var monitoring_served_features: feature 'z' is not a column of the served rows"),
    (SPEC, [], ["os"], "var monitoring_feature_segments: segment 'os' is not a column of the warehouse rows"),
    ("x", [], [], "var monitoring_features must be a list"),
])
def test_mart_bad_vars_name_the_var_and_value(features, served, segments, message):
    rows, w = mart_inputs(n=300)
    with pytest.raises(ValueError, match=message):
        feature_drift_mart(rows, rows, w, features=features, served_features=served, segments=segments)
