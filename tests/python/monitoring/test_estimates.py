"""fct_performance_estimate's package call: the grouped CBPE kernel against exact
enumeration, CBPE and simulation; the binned Platt fit against scikit-learn; the mart's
realised figures against scikit-learn; the interval's coverage on a synthetic world whose
labels follow a per-position Platt map; skipped models, empty inputs and errors."""
from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import statsmodels.api as sm
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score

from receval.models.calibration import logit
from receval.monitoring import CBPE, expected_log_loss, expected_roc_auc, grouped_cbpe
from receval.monitoring.estimates import (
    _fit_binned,
    performance_estimate_schema,
    performance_estimate_table,
)

D0 = dt.date(2026, 9, 1)


def test_grouped_kernel_equals_cbpe_and_exact_variance():
    rng = np.random.default_rng(0)
    p = rng.uniform(0.05, 0.95, 10)
    s = np.round(p + rng.normal(0, 0.1, 10), 1)                  # ties
    e_pairs = p.sum() * (1 - p).sum() - (p * (1 - p)).sum()
    a = expected_roc_auc(p, s)
    var_f = 0.0                                                  # Var(U - A n+ n-) by enumeration
    for y in itertools.product((0, 1), repeat=10):
        y = np.array(y, bool)
        w = np.prod(np.where(y, p, 1 - p))
        pos, neg = s[y], s[~y]
        u = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
        var_f += w * (u - a * y.sum() * (~y).sum()) ** 2
    one = grouped_cbpe(p, s, np.zeros(10, dtype=np.int64), 1)
    assert one.auc[0] == pytest.approx(a, abs=1e-12)
    assert one.auc_std_error[0] == pytest.approx(np.sqrt(var_f) / e_pairs, rel=1e-9)
    # several groups at once: each equals its own rows' figures
    p = rng.beta(2, 5, 3000)
    s = np.round(p + rng.normal(0, 0.05, p.size), 3)
    g = rng.integers(0, 4, p.size)
    many = grouped_cbpe(p, s, g, 5)
    for k in range(4):
        assert many.auc[k] == pytest.approx(expected_roc_auc(p[g == k], s[g == k]), abs=1e-12)
        assert many.log_loss[k] == pytest.approx(expected_log_loss(p[g == k]), abs=1e-12)
        assert many.positive_rate[k] == pytest.approx(p[g == k].mean(), abs=1e-12)
        one = grouped_cbpe(p[g == k], s[g == k], np.zeros((g == k).sum(), dtype=np.int64), 1)
        assert many.auc_std_error[k] == pytest.approx(one.auc_std_error[0], rel=1e-9)
    assert many.n[4] == 0 and np.isnan(many.auc[4])


def test_analytic_std_errors_equal_the_simulated_spread():
    rng = np.random.default_rng(1)
    p = rng.beta(1.5, 5, 3000)
    normal = CBPE(interval="normal").estimate_performance(p)
    sim = CBPE(n_bootstrap=4000, random_state=2).estimate_performance(p)
    # the SD of 4,000 draws is within ~2.2% (1 SE) of the truth
    assert normal.std_error == pytest.approx(sim.std_error, rel=0.07)
    z = 1.959963984540054
    assert (normal.ci_high - normal.ci_low) / (2 * z) == pytest.approx(normal.std_error, rel=1e-12)
    ll_sd = np.sqrt((p * (1 - p) * logit(p) ** 2).sum()) / p.size
    assert (normal.log_loss_ci_high - normal.log_loss) / z == pytest.approx(ll_sd, rel=1e-9)
    assert normal.method == "normal" and normal.n_bootstrap == 0


def test_binned_platt_equals_sklearn_on_the_weighted_bins():
    rng = np.random.default_rng(3)
    s = rng.uniform(0.02, 0.98, 200)
    rows = rng.integers(50, 500, s.size).astype(float)
    clicks = rng.binomial(rows.astype(int), 1 / (1 + np.exp(-(0.7 * logit(s) - 1.5)))).astype(float)
    ours = _fit_binned(s, clicks, rows, "platt")
    ref = LogisticRegression(C=1e12, tol=1e-12, max_iter=10_000).fit(
        np.r_[logit(s), logit(s)][:, None], np.r_[np.ones(s.size), np.zeros(s.size)],
        sample_weight=np.r_[clicks, rows - clicks])
    assert ours.params["a"] == pytest.approx(ref.coef_[0, 0], abs=1e-6)
    assert ours.params["b"] == pytest.approx(ref.intercept_[0], abs=1e-6)


def synthetic_world(seed, n_days=45, reference_days=5, rows_per_day=2000, flip_after=None,
                    group_shift=None, group_slope=None):
    """Served rows whose click probability is an exact per-position Platt map of the score
    (so a calibrated map exists), a fixed reference window on the first days, and the
    windows table. ``flip_after``: from that day on, device b's clicks follow another map
    (concept drift). ``group_shift``: a column ``group`` (g1 / g2) whose clicks' logit is
    shifted by ``+group_shift`` / ``-group_shift`` at the same score and position (and a
    constant column ``one``); ``group_slope``: g1's / g2's clicks' logit is also scaled by
    ``1 + group_slope`` / ``1 - group_slope``."""
    rng = np.random.default_rng(seed)
    n = n_days * rows_per_day
    day = np.repeat(np.arange(n_days), rows_per_day)
    position = rng.integers(1, 4, n)
    score = rng.beta(4, 2, n)
    device = rng.choice(["a", "b"], n)
    a, b = np.array([0, 1.2, 1.0, 0.8]), np.array([0, -1.0, -1.8, -2.4])
    z = a[position] * logit(score) + b[position]
    extra = {}
    if group_shift is not None:
        group = rng.choice(["g1", "g2"], n)
        sign = np.where(group == "g1", 1.0, -1.0)
        z = z * (1.0 + sign * (group_slope or 0.0)) + sign * group_shift
        extra = {"group": group, "one": np.full(n, "x")}
    if flip_after is not None:
        z = np.where((day >= flip_after) & (device == "b"), z + 1.0, z)
    clicked = rng.random(n) < 1 / (1 + np.exp(-z))
    dates = [D0 + dt.timedelta(days=int(t)) for t in range(n_days)]
    served = pa.table({
        "model_id": ["m"] * n, "impression_date": pa.array([dates[t] for t in day], pa.date32()),
        "position": position, "score": score, "device": device, "is_clicked": clicked,
        "is_click_label_mature": np.ones(n, bool), **extra,
    })
    end = dates[reference_days - 1]
    windows = pa.table({
        "impression_date": pa.array(dates, pa.date32()),
        "reference_start_date": pa.array([D0] * n_days, pa.date32()),
        "reference_end_date": pa.array([end] * n_days, pa.date32()),
        "period": ["reference" if d <= end else "analysis" for d in dates],
    })
    return served, windows


def test_interval_covers_the_realised_auc_95_percent_of_the_time():
    """40 analysis days x 3 segments (all, device a, device b) = 120 intervals: coverage
    of a 95% interval has a binomial SD of 2 points, the bounds are 2.5 SD either side."""
    served, windows = synthetic_world(seed=4)
    out = performance_estimate_table(served, windows, segments=["device"]).to_pandas()
    est = out[out.status == "estimated"]
    assert len(est) == 120 and est.auc_covered.notna().all()
    assert 0.90 <= est.auc_covered.mean() <= 1.0
    assert 0.90 <= est.click_rate_covered.mean() <= 1.0
    # the estimate itself is unbiased: the mean realised - expected AUC is within 3 SE
    diff = est.realised_auc - est.expected_auc
    assert abs(diff.mean()) < 3 * diff.std(ddof=1) / np.sqrt(len(diff))


def test_segment_recalibration_is_the_segments_logistic_fit_on_the_mapped_logit():
    """Groups g1 / g2 click at logit +-0.4 off the per-position map at the same score: the
    maps (fitted on all rows) miss each group's click rate; each group's recalibration
    sigmoid(a + b logit p), fitted on its reference rows, brings the AUC and click-rate
    intervals back to ~95% (80 intervals, SD 2.4 points); the maps alone covered none of
    the click rates and 89% of the AUCs (seeds 10-12: 0 -> 91-94% and 89-91% -> 95-98%).
    (a, b) is the row-level logistic regression of the reference's clicks on the mapped
    logit (statsmodels). A segment holding every row (and segment all) gets (0, 1): the
    per-position Platt maps' score equations already hold on all rows."""
    served, windows = synthetic_world(seed=10, rows_per_day=4000, group_shift=0.4)
    out = performance_estimate_table(served, windows, segments=["group", "one"]).to_pandas()
    est = out[out.status == "estimated"]
    grp = est[est.segment_type == "group"]
    assert len(grp) == 80 and grp.auc_covered.notna().all()
    assert 0.90 <= grp.auc_covered.mean() <= 1.0
    assert 0.90 <= grp.click_rate_covered.mean() <= 1.0
    diff = grp.realised_click_rate - grp.expected_click_rate
    assert abs(diff.mean()) < 3 * diff.std(ddof=1) / np.sqrt(len(diff))
    # (a, b): the reference's row-level logistic fit on the row-level maps' logits
    fine = performance_estimate_table(served, windows, segments=["group"], logit_bin_width=1e-4).to_pandas()
    rows = served.to_pandas()
    ref = rows[rows.impression_date <= D0 + dt.timedelta(days=4)]
    zref = np.empty(len(ref))
    for k in (1, 2, 3):
        at = (ref.position == k).to_numpy()
        cal = _fit_binned(ref.score[at].to_numpy(), ref.is_clicked[at].to_numpy(float), np.ones(at.sum()), "platt")
        zref[at] = logit(cal.apply(ref.score[at].to_numpy()))
    for g in ("g1", "g2"):
        at = (ref.group == g).to_numpy()
        a, b = sm.Logit(ref.is_clicked[at].to_numpy(float), sm.add_constant(zref[at])).fit(disp=0, tol=1e-12).params
        got = fine[(fine.segment == g) & (fine.status == "estimated")]
        assert got.segment_offset.to_numpy() == pytest.approx(a, abs=1e-4)
        assert got.segment_slope.to_numpy() == pytest.approx(b, abs=1e-3)
        assert abs(a) > 0.25 and np.sign(a) == (1 if g == "g1" else -1)
    # a constant segment has exactly segment all's figures
    one, every = est[est.segment_type == "one"], est[est.segment_type == "all"]
    assert np.abs(one.segment_offset).max() < 1e-9 and (every.segment_offset == 0).all()
    assert np.abs(one.segment_slope - 1).max() < 1e-9 and (every.segment_slope == 1).all()
    assert one.expected_click_rate.to_numpy() == pytest.approx(every.expected_click_rate.to_numpy(), abs=1e-9)
    assert one.expected_auc.to_numpy() == pytest.approx(every.expected_auc.to_numpy(), abs=1e-9)
    assert (out[out.status != "estimated"].segment_type == "all").sum() == 5   # reference days
    # isotonic maps: an offset only (a logistic slope is not a correction of that family)
    iso = performance_estimate_table(served, windows, segments=["one"], calibration="isotonic").to_pandas()
    iso = iso[iso.status == "estimated"]
    assert np.abs(iso.segment_offset).max() < 1e-4 and (iso.segment_slope == 1).all()


def test_segment_slope_restores_the_auc_interval_where_segments_differ_in_slope():
    """g1's clicks' logit is 1.4x, g2's 0.6x the per-position map's (no shift): the score
    separates clicks better in g1 than over all rows. With an offset alone each group's
    expected AUC is off by ~0.057 (g1's too low, g2's too high) and its interval covers
    0-1% of 80 group-days (seeds 20-22); with the fitted slopes (g1 / g2 ~ 1.4 / 0.6 = 2.33,
    each relative to the pooled map's own slope) the bias is under 0.01 and the intervals
    cover 88-95% (the reference fit's own sampling error is not in the interval)."""
    served, windows = synthetic_world(seed=20, rows_per_day=4000, group_shift=0.0, group_slope=0.4)
    out = performance_estimate_table(served, windows, segments=["group"]).to_pandas()
    grp = out[(out.status == "estimated") & (out.segment_type == "group")]
    assert len(grp) == 80
    assert 0.85 <= grp.auc_covered.mean() <= 1.0
    assert 0.90 <= grp.click_rate_covered.mean() <= 1.0
    slopes = grp.groupby("segment").segment_slope.mean()
    assert slopes["g1"] / slopes["g2"] == pytest.approx(1.4 / 0.6, abs=0.15)
    bias = (grp.realised_auc - grp.expected_auc).groupby(grp.segment).mean()
    assert bias.abs().max() < 0.01


def test_concept_drift_leaves_the_interval():
    """Device b's clicks move off the reference map after day 25: its realised click rate
    leaves the interval, device a's stays in (CBPE cannot see concept drift)."""
    served, windows = synthetic_world(seed=5, flip_after=25)
    out = performance_estimate_table(served, windows, segments=["device"]).to_pandas()
    late = out[(out.status == "estimated") & (out.impression_date >= D0 + dt.timedelta(days=25))]
    assert not late[late.segment == "b"].click_rate_covered.any()
    assert late[late.segment == "a"].click_rate_covered.mean() >= 0.85


def test_realised_figures_equal_sklearn_and_labels_maturity():
    served, windows = synthetic_world(seed=6, n_days=8, reference_days=3, rows_per_day=500)
    mature = np.random.default_rng(7).random(served.num_rows) < 0.9
    served = served.set_column(served.schema.get_field_index("is_click_label_mature"),
                               "is_click_label_mature", pa.array(mature))
    out = performance_estimate_table(served, windows, segments=["device"]).to_pandas()
    rows = served.to_pandas()
    for r in out.itertuples():
        sel = (rows.impression_date == r.impression_date) & mature
        if r.segment_type == "device":
            sel &= rows.device == r.segment
        y, s = rows.is_clicked[sel], rows.score[sel]
        assert r.realised_auc == pytest.approx(roc_auc_score(y, s), abs=1e-12)
        assert r.realised_click_rate == pytest.approx(y.mean(), abs=1e-12)
        assert r.n_label_mature == sel.sum() and r.auc_covered is None   # 10% still unlabelled
    first = out[(out.segment_type == "all")].iloc[0]
    assert first.status == "reference" and first.n_reference == int(mature[:1500].sum())


def test_realised_log_loss_equals_sklearn():
    served, windows = synthetic_world(seed=8, n_days=6, reference_days=3, rows_per_day=400)
    # a single position: the map is one Platt fit, recomputed here from the binned fit
    served = served.set_column(served.schema.get_field_index("position"), "position",
                               pa.array(np.ones(served.num_rows, np.int64)))
    out = performance_estimate_table(served, windows, logit_bin_width=1e-6).to_pandas()
    rows = served.to_pandas()
    ref = rows[rows.impression_date <= D0 + dt.timedelta(days=2)]
    cal = _fit_binned(ref.score.to_numpy(), ref.is_clicked.to_numpy(float), np.ones(len(ref)), "platt")
    for r in out[out.status == "estimated"].itertuples():
        day = rows[rows.impression_date == r.impression_date]
        p = cal.apply(day.score.to_numpy())
        assert r.realised_log_loss == pytest.approx(log_loss(day.is_clicked, p), rel=1e-9)
        assert r.expected_auc == pytest.approx(expected_roc_auc(p, day.score.to_numpy()), abs=1e-9)
        assert r.expected_click_rate == pytest.approx(p.mean(), abs=1e-9)


def test_reading_a_run_of_days_at_a_time_gives_the_same_mart():
    """Read from DuckDB a day, three days or every day at a time: the same rows. The fixed
    reference (days 0-4) spans runs; model n leaves [0, 1] on day 6 only, so it is left out
    on every day (and on day 9, which no other model has); model k starts on day 3; device c first appears on day 7, and a null
    device is 'unknown'."""
    import duckdb

    from receval.warehouse import ColumnReader

    served, windows = synthetic_world(seed=11, n_days=9, reference_days=5, rows_per_day=600)
    rows = served.to_pandas()
    rows.loc[(rows.impression_date >= D0 + dt.timedelta(days=7)) & (rows.index % 5 == 0), "device"] = "c"
    rows.loc[rows.index % 97 == 0, "device"] = None
    n = pd.concat([rows, rows[rows.impression_date == D0].assign(impression_date=D0 + dt.timedelta(days=9))],
                  ignore_index=True).assign(model_id="n")
    n.loc[(n.impression_date == D0 + dt.timedelta(days=6)).idxmax(), "score"] = 1.5
    k = rows[rows.impression_date >= D0 + dt.timedelta(days=3)].assign(model_id="k")
    k["score"] = np.clip(k.score * 0.9 + 0.05, 0, 1)
    table = pa.Table.from_pandas(pd.concat([rows, n, k], ignore_index=True), preserve_index=False)
    whole = performance_estimate_table(table, windows, segments=["device"]).to_pandas()
    assert set(whole.model_id) == {"m", "k"} and "c" in set(whole.segment) and "unknown" in set(whole.segment)
    assert whole.loc[whole.model_id == "k", "impression_date"].min() == D0 + dt.timedelta(days=3)
    relation = duckdb.connect().from_arrow(table)
    for read_rows in (1, 3 * 3 * 600, None):
        got = performance_estimate_table(ColumnReader(relation), windows, segments=["device"],
                                         read_rows=read_rows).to_pandas()
        pd.testing.assert_frame_equal(got, whole, rtol=1e-12)


def test_skipped_models_empty_inputs_and_errors():
    served, windows = synthetic_world(seed=9, n_days=5, reference_days=2, rows_per_day=200)
    pop = served.set_column(served.schema.get_field_index("model_id"), "model_id",
                            pa.array(["popular"] * served.num_rows))
    pop = pop.set_column(pop.schema.get_field_index("score"), "score", pa.array(np.full(pop.num_rows, 3.5)))
    out = performance_estimate_table(pa.concat_tables([served, pop]), windows)
    assert set(out.column("model_id").to_pylist()) == {"m"}             # scores outside [0, 1]
    no_score = served.set_column(served.schema.get_field_index("score"), "score",
                                 pa.nulls(served.num_rows, pa.float64()))
    empty = performance_estimate_table(no_score, windows, segments=["device"])
    assert empty.num_rows == 0 and empty.schema == performance_estimate_schema()
    with pytest.raises(ValueError, match="`served` has no column `position`"):
        performance_estimate_table(served.drop_columns(["position"]), windows)
    with pytest.raises(ValueError, match="segment `country`"):
        performance_estimate_table(served, windows, segments=["country"])
    with pytest.raises(ValueError, match="`calibration`"):
        performance_estimate_table(served, windows, calibration="beta")
    with pytest.raises(ValueError, match="`windows` has no row"):
        performance_estimate_table(served, windows.slice(0, 2))
    # a window without a click: null estimates with the reason, status no_estimate
    unclicked = served.set_column(served.schema.get_field_index("is_clicked"), "is_clicked",
                                  pa.array(np.zeros(served.num_rows, bool)))
    out = performance_estimate_table(unclicked, windows).to_pandas()
    est = out[out.period == "analysis"]
    assert (est.status == "no_estimate").all() and est.expected_auc.isna().all()
    assert est.reason.str.contains("all one class").all()
