"""fct_online_auc's math: the grouped, cluster-robust AUC (receval.metrics.classification:
sklearn's AUC, DeLong's variance with one row per cluster, a request bootstrap's standard
error on clustered data) and online_auc_table (every cell's AUC, log-loss and calibration
against sklearn and by hand, the reference window, the alert rule, empty and faulty input)."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy import stats
from sklearn.metrics import log_loss, roc_auc_score

from receval.metrics.classification import clustered_roc_auc, grouped_roc_auc, roc_auc
from receval.metrics.uncertainty import mean_with_clt
from receval.monitoring.online import ONLINE_AUC_SCHEMA, online_auc_table

DAY0 = dt.date(2026, 9, 1)


def clustered_data(rng, n_requests, effect=1.0):
    """Requests of 2-11 impressions sharing a random effect in both score and label."""
    size = rng.integers(2, 12, n_requests)
    request = np.repeat(np.arange(n_requests), size)
    u = rng.normal(size=n_requests)[request] * effect
    score = np.round(0.8 * u + rng.normal(size=request.size), 2)          # ties
    logit = -1.5 + 1.2 * u + 0.3 * score + 0.5 * rng.normal(size=request.size)
    return request, score, rng.random(request.size) < 1 / (1 + np.exp(-logit))


# ------------------------------------------------------------------ grouped AUC kernel
def test_grouped_auc_equals_sklearn_and_delong_per_group():
    rng = np.random.default_rng(0)
    n = 6000
    group = rng.integers(0, 6, n)
    y = rng.random(n) < 0.2 + 0.05 * group
    s = np.round(rng.normal(size=n) + y, 1)                 # many ties
    y[group == 5] = False                                   # a group without positives
    res = grouped_roc_auc(y, s, group, 7)                   # group 6 has no row
    for g in range(5):
        m = group == g
        assert res.auc[g] == pytest.approx(roc_auc_score(y[m], s[m]), abs=1e-12)
        assert np.sqrt(res.variance[g]) == pytest.approx(roc_auc(y[m], s[m]).std_error, rel=1e-9)
        assert (res.n_pos[g], res.n_neg[g], res.n_clusters[g]) == (y[m].sum(), (~y[m]).sum(), m.sum())
    assert np.isnan(res.auc[5:]).all() and np.isnan(res.variance[5:]).all()
    assert res.n_pos[6] == res.n_neg[6] == 0


def test_one_row_clusters_give_delong():
    rng = np.random.default_rng(1)
    request, s, y = clustered_data(rng, 300)
    one_row = clustered_roc_auc(y, s, np.arange(y.size))
    assert one_row.value == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert one_row.std_error == pytest.approx(roc_auc(y, s).std_error, rel=1e-9)
    assert one_row.method == "obuchowski" and one_row.n_groups == y.size


def weighted_aucs(y, s, weights):
    """The AUC under each row of ``weights`` (replicates x rows): per block of tied scores,
    the positive weight times the negative weight below plus half the tied one."""
    order = np.argsort(s, kind="stable")
    s, y, weights = s[order], y[order], weights[:, order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    pos = np.add.reduceat(weights * y, starts, axis=1)
    neg = np.add.reduceat(weights * ~y, starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg
    return (pos * (below + 0.5 * neg)).sum(axis=1) / (pos.sum(axis=1) * neg.sum(axis=1))


def test_clustered_se_matches_a_request_bootstrap():
    rng = np.random.default_rng(3)
    request, s, y = clustered_data(rng, 600, effect=1.5)
    n_req = request.max() + 1
    counts = np.stack([np.bincount(rng.integers(0, n_req, n_req), minlength=n_req) for _ in range(2000)])
    reps = weighted_aucs(y, s, counts[:, request].astype(float))
    assert reps[0] == pytest.approx(roc_auc_score(y, s, sample_weight=counts[0, request]), abs=1e-12)
    boot = np.std(reps, ddof=1)                            # Monte Carlo error ~1.6%
    res = clustered_roc_auc(y, s, request)
    assert res.value == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert res.std_error == pytest.approx(boot, rel=0.05)
    # the test can fail: rows taken as independent understate the error here
    assert roc_auc(y, s).std_error < 0.85 * boot


def test_grouped_auc_input_errors():
    y, s = np.array([0, 1, 0, 1]), np.array([0.1, 0.4, 0.35, 0.8])
    with pytest.raises(ValueError, match="clusters must nest in groups"):
        grouped_roc_auc(y, s, np.array([0, 0, 1, 1]), 2, cluster_codes=np.array([0, 1, 1, 2]), n_clusters=3)
    with pytest.raises(ValueError, match="score_order"):
        grouped_roc_auc(y, s, np.zeros(4, int), 1, score_order=np.arange(4))
    with pytest.raises(ValueError, match=r"group_codes.*\[0, 2\)"):
        grouped_roc_auc(y, s, np.array([0, 1, 2, 0]), 2)


# ------------------------------------------------------------------ online_auc_table
def impressions_frame(seed=0, n_days=4, n_requests=150):
    """Served impressions of three models over n_days: model a and c score probabilities,
    b popularity counts; devices (one null) and categories; the last day's purchases
    are partly immature and its clicks of the last hour too."""
    rng = np.random.default_rng(seed)
    frames = []
    for m, model in enumerate(["a", "b", "c"]):
        for d in range(n_days):
            request, s, y = clustered_data(rng, n_requests)
            p = 1 / (1 + np.exp(-s))
            n = request.size
            hour = rng.integers(0, 24, n_requests)[request]
            frames.append(pd.DataFrame({
                "event_id": np.arange(n) + 10 ** 6 * (m * n_days + d),
                "request_id": request + 10 ** 4 * (m * n_days + d),
                "model_id": model,
                "impression_date": DAY0 + dt.timedelta(days=d),
                "impression_ts": pd.Timestamp(DAY0 + dt.timedelta(days=d)) + pd.to_timedelta(hour, "h"),
                "device": np.array(["ios", "android", None], dtype=object)[rng.integers(0, 3, n_requests)][request],
                "item_category": np.array(["x", "y", "z"])[rng.integers(0, 3, n)],
                "score": np.round(p * 40, 0) if model == "b" else p,
                "is_clicked": y,
                "is_click_label_mature": ~((d == n_days - 1) & (hour == 23)),
                "is_converted": y & (rng.random(n) < 0.5),
                "is_label_mature": (d < n_days - 1) | (rng.random(n) < 0.3),
            }))
    return pd.concat(frames, ignore_index=True)


def windows_frame(n_days=4, lag=1, days=2, min_days=2):
    rows = []
    for d in range(n_days):
        start, end = d - lag - days + 1, d - lag
        n_ref = len([k for k in range(max(start, 0), end + 1) if k < n_days])
        rows.append({"impression_date": DAY0 + dt.timedelta(days=d),
                     "reference_start_date": DAY0 + dt.timedelta(days=start),
                     "reference_end_date": DAY0 + dt.timedelta(days=end),
                     "n_reference_days": n_ref, "period": "analysis" if n_ref >= min_days else "warm_up"})
    return pd.DataFrame(rows)


LABEL_COLUMNS = {"click": ("is_clicked", "is_click_label_mature"), "purchase": ("is_converted", "is_label_mature")}


def cell_rows(frame, row):
    """The rows of one mart row (before the maturity filter)."""
    frame = frame[(frame.model_id == row.model_id) & (frame.impression_date == row.impression_date)]
    m = np.ones(len(frame), dtype=bool)
    if row.grain == "hour":
        m &= frame.impression_ts.dt.floor("h") == row.hour_start
    if row.segment_type != "all":
        m &= frame[row.segment_type].fillna("unknown") == row.segment
    return frame[m]


@pytest.fixture(scope="module")
def frame():
    return impressions_frame()


@pytest.fixture(scope="module")
def mart(frame):
    return online_auc_table(pa.Table.from_pandas(frame), pa.Table.from_pandas(windows_frame()),
                            segments=["device", "item_category"], min_class_count=5).to_pandas()


def test_every_cell_equals_sklearn_and_the_hand_formulas(frame, mart):
    assert (mart.grain == "day").sum() == 2 * 3 * 4 * (1 + 3 + 3)   # labels x models x days x segments
    hours = mart[mart.grain == "hour"]
    assert set(hours.impression_date) == {DAY0 + dt.timedelta(days=3)}
    last_day = frame[frame.impression_date == DAY0 + dt.timedelta(days=3)]
    assert set(hours.hour_start) == set(last_day.impression_ts.dt.floor("h"))
    assert set(mart.loc[mart.segment_type == "device", "segment"]) == {"ios", "android", "unknown"}
    checked = 0
    by_day = dict(tuple(frame.groupby(["model_id", "impression_date"])))
    # every daily cell and the hours of segment all (sklearn's checks cost ~1 ms a call)
    for row in mart[(mart.grain == "day") | (mart.segment_type == "all")].itertuples():
        rows = cell_rows(by_day[row.model_id, row.impression_date], row)
        y_col, mature_col = LABEL_COLUMNS[row.label]
        used = rows[rows[mature_col]]
        y, s = used[y_col].to_numpy(), used["score"].to_numpy()
        assert (row.n_impressions, row.n_immature) == (len(used), len(rows) - len(used))
        assert (row.n_positive, row.n_requests) == (y.sum(), used.request_id.nunique())
        if 0 < y.sum() < len(y):
            assert row.auc == pytest.approx(roc_auc_score(y, s), abs=1e-9)
            checked += 1
        else:
            assert np.isnan(row.auc)
        if row.model_id == "b":                            # popularity counts: no probabilities
            assert np.isnan(row.log_loss) and np.isnan(row.calibration_ratio)
            continue
        if len(y):
            assert row.log_loss == pytest.approx(log_loss(y, s, labels=[0, 1]), rel=1e-9)
        if y.sum():
            assert row.calibration_ratio == pytest.approx(s.sum() / y.sum(), rel=1e-9)
    assert checked > 150


def test_standard_errors_are_clustered_on_requests(frame, mart):
    row = mart[(mart.model_id == "a") & (mart.segment == "x") & (mart.grain == "day") & (mart.label == "click")].iloc[2]
    rows = cell_rows(frame, row)
    y, s, req = rows.is_clicked.to_numpy(), rows.score.to_numpy(), rows.request_id.to_numpy()
    assert row.auc_std_error == pytest.approx(clustered_roc_auc(y, s, req).std_error, rel=1e-9)
    loss = -np.log(np.where(y, s, 1 - s))
    assert row.log_loss_std_error == pytest.approx(mean_with_clt(loss, group_ids=req).std_error, rel=1e-9)
    # delta method for the ratio of means, by cluster totals
    r = s.sum() / y.sum()
    by = pd.DataFrame({"req": req, "resid": s - r * y}).groupby("req")["resid"].sum().to_numpy()
    k = len(by)
    se = np.sqrt(k / (k - 1) * (by ** 2).sum()) / y.sum()
    assert row.calibration_std_error == pytest.approx(se, rel=1e-9)
    z = stats.norm.ppf(0.975)
    assert row.calibration_ci_low == pytest.approx(r * np.exp(-z * se / r), rel=1e-9)
    assert row.auc_ci_high == pytest.approx(min(1.0, row.auc + z * row.auc_std_error), rel=1e-12)


def test_reference_is_the_pair_weighted_mean_of_the_window_days(frame, mart):
    daily = mart[(mart.grain == "day") & (mart.model_id == "a") & (mart.label == "click") & (mart.segment == "all")]
    last = daily[daily.impression_date == DAY0 + dt.timedelta(days=3)].iloc[0]
    ref = daily[daily.impression_date.isin([DAY0 + dt.timedelta(days=1), DAY0 + dt.timedelta(days=2)])]
    w = ref.n_positive * (ref.n_impressions - ref.n_positive)
    assert last.reference_auc == pytest.approx((w * ref.auc).sum() / w.sum(), rel=1e-12)
    assert last.reference_n_days == 2
    rows = frame[(frame.model_id == "a") & frame.impression_date.isin(ref.impression_date) & frame.is_click_label_mature]
    assert last.reference_calibration_ratio == pytest.approx(rows.score.sum() / rows.is_clicked.sum(), rel=1e-12)
    assert last.auc_drop == pytest.approx(last.reference_auc - last.auc, abs=1e-15)
    hourly = mart[(mart.grain == "hour") & (mart.model_id == "a") & (mart.label == "click") & (mart.segment == "all")]
    assert (hourly.reference_auc == last.reference_auc).all()


def test_status_alerts_on_a_drop_beyond_tolerance_and_interval():
    frame = impressions_frame(seed=5, n_requests=300)
    last = frame.impression_date == DAY0 + dt.timedelta(days=3)
    a, c = last & (frame.model_id == "a"), last & (frame.model_id == "c")
    rng = np.random.default_rng(0)
    frame.loc[a, "score"] = rng.permutation(frame.loc[a, "score"].to_numpy())   # ranking lost
    frame.loc[c, "score"] *= 0.5                                                # ranking kept, calibration halved
    out = online_auc_table(frame, windows_frame(), segments=["device", "item_category"]).to_pandas()
    day = out[(out.grain == "day") & (out.label == "click")].set_index(["model_id", "impression_date", "segment"])
    drop_a, drop_c = day.loc[("a", DAY0 + dt.timedelta(days=3), "all")], day.loc[("c", DAY0 + dt.timedelta(days=3), "all")]
    assert (drop_a.auc_status, drop_a.calibration_status) == ("alert", "ok")
    assert (drop_c.auc_status, drop_c.calibration_status) == ("ok", "alert")
    assert drop_c.calibration_alert_high < drop_c.calibration_lower_limit
    # no alert before: warm-up days carry their period, the unchanged day 3 is ok
    for model in ("a", "c"):
        assert day.loc[(model, DAY0, "all"), "auc_status"] == "warm_up"
        assert day.loc[(model, DAY0 + dt.timedelta(days=2), "all"), "auc_status"] == "ok"
    # the rule, on every analysis row: Bonferroni over the cells of the model's day
    judged = out[(out.period == "analysis") & (out.auc_status != "no_data")]
    family = ["model_id", "grain", "impression_date"]
    k = out[out.n_impressions > 0].groupby(family).size()
    n_tests = judged.set_index(family).index.map(k)
    assert (judged.n_alert_tests.to_numpy() == n_tests.to_numpy()).all()
    bound = np.minimum(1, judged.auc + stats.norm.isf(0.05 / 2 / n_tests.to_numpy()) * judged.auc_std_error)
    np.testing.assert_allclose(judged.auc_alert_bound, bound, rtol=1e-12)
    assert ((judged.auc_status == "alert") == (bound < judged.reference_auc - 0.02)).all()
    assert (out.loc[out.period != "analysis", "auc_status"].isin(["warm_up", "no_data"])).all()


def test_too_few_labels_is_no_data(mart):
    few = mart[(mart.period == "analysis") & ((mart.n_positive < 5) | (mart.n_impressions - mart.n_positive < 5))]
    assert len(few) and (few.auc_status == "no_data").all()
    assert (mart.loc[mart.n_positive < 5, "calibration_status"].isin(["no_data"])).all()


def test_without_scores_the_table_is_empty_with_its_schema(frame):
    out = online_auc_table(frame.assign(score=None), windows_frame(), segments=["device"])
    assert out.num_rows == 0 and out.schema == ONLINE_AUC_SCHEMA
    assert online_auc_table(frame.iloc[:0], windows_frame(), segments=["device"]).schema == ONLINE_AUC_SCHEMA


@pytest.mark.parametrize("scoreless_last_day", [False, True])
def test_reading_a_run_of_days_at_a_time_gives_the_same_mart(frame, scoreless_last_day):
    """Read from DuckDB a day, two days or every day at a time: the same cells. Model c
    leaves [0, 1] on day 2 only, so it has no log-loss or calibration on any day; without
    scores on the last day, the hours are those of the day before it."""
    import duckdb

    from receval.warehouse import ColumnReader

    f = frame.copy()
    f.loc[f.index[(f.model_id == "c") & (f.impression_date == DAY0 + dt.timedelta(days=2))][0], "score"] = 1.5
    if scoreless_last_day:
        f.loc[f.impression_date == DAY0 + dt.timedelta(days=3), "score"] = np.nan
    windows = windows_frame()
    kw = dict(segments=["device", "item_category"], min_class_count=5)
    whole = online_auc_table(pa.Table.from_pandas(f), windows, **kw).to_pandas()
    assert whole[whole.model_id == "c"][["log_loss", "calibration_ratio"]].isna().all().all()
    last = DAY0 + dt.timedelta(days=2 if scoreless_last_day else 3)
    assert set(whole.loc[whole.grain == "hour", "impression_date"]) == {last}
    relation = duckdb.connect().from_arrow(pa.Table.from_pandas(f))
    two_days = int((f.impression_date <= DAY0 + dt.timedelta(days=1)).sum())
    key = ["model_id", "label", "grain", "impression_date", "hour_start", "segment_type", "segment"]
    for read_rows in (1, two_days, None):
        got = online_auc_table(ColumnReader(relation), windows, read_rows=read_rows, **kw).to_pandas()
        pd.testing.assert_frame_equal(got.sort_values(key, ignore_index=True),
                                      whole.sort_values(key, ignore_index=True), rtol=1e-12)


def test_day_batches_are_runs_of_consecutive_days_up_to_the_row_limit():
    from receval.monitoring.days import day_batches

    counts = {DAY0 + dt.timedelta(days=d): n for d, n in enumerate([3, 4, 9, 1, 2])}
    days = sorted(counts)
    assert day_batches(counts, 7, "x") == [days[:2], days[2:3], days[3:]]
    assert day_batches(counts, None, "x") == [days]
    assert day_batches(counts, 1, "x") == [[d] for d in days]
    with pytest.raises(ValueError, match="x holds 2 null value"):
        day_batches({**counts, None: 2}, 7, "x")


def test_input_errors(frame):
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['surface'\]"):
        online_auc_table(frame, windows_frame(), segments=["surface"])
    with pytest.raises(ValueError, match="no row for impression_date"):
        online_auc_table(frame, windows_frame().iloc[1:], segments=[])
    with pytest.raises(ValueError, match="non-finite"):
        online_auc_table(frame.assign(score=frame.score.where(frame.index > 0, np.inf)), windows_frame())
