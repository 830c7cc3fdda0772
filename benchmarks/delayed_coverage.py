"""Coverage of the delayed-feedback correction of the conversion rate over repeated
simulated worlds (issue 18).

The question: over many worlds, for each of the last 7 click days (the immature ones) of
a world seen at its data's end, does the survival re-weighted conversion rate of
``fct_cvr_by_day`` (segment ``all``) come within 5% of the truth where the naive rate is
more than 20% low, and does its 95% interval cover the truth 93-97% of the time?

Set-up (no dbt in the loop):

* World ``s`` (seed ``--first-seed + s``): ``receval.simulate`` with the tiny preset but
  ``--users`` users and ``--items`` items (default 3,000 and 5,000, against the preset's
  300 and 200: about 5,700 clicks and 545 eventual purchases a day; with 200 items users
  re-click the same item, last-click credit moves purchases between impressions and the
  expected rate below stops being the eventual one), the entities no delayed-feedback node
  reads (served features, shadow scores, the candidate log) switched off, 16 days long
  (``pre_days=2, main_days=14``) and landed until its 8th day (``until=2026-09-08``), as
  ``tests/python/test_dbt_delayed.py`` does. The warehouse sees 8 days: day 1's clicks
  are mature (their 7-day window has closed), days 2-8 are the 7 immature days, day-age
  1 (the last day) to 7. The 8 days after the cut give every one of those clicks its
  eventual label in ``truth/``.
* The clicks table: ``int_delayed__clicks``' columns, built here from the landed raw
  files (:func:`landed_clicks`): the clean rows (the fault rows ``truth/faults.parquet``
  lists dropped, redeliveries collapsed on event_id), labelled with the simulator's own
  attribution rule (``receval.simulate.truth``: counted clicks, last-click attribution),
  not with the SQL. ``--check-dbt`` builds the first world with ``dbt run --select
  +int_delayed__clicks`` and checks that the two tables are equal, row for row.
* Methods (:data:`METHODS`, name -> function(clicks frame) -> one row per click day with
  estimate, ci_low, ci_high): ``naive`` (the rate so far, interval clustered on users) and
  ``survival_reweighting`` (``DelayDistribution`` fitted on every purchase seen, then
  ``SurvivalReweighting.estimate_eventual_rate`` per click day, clustered on users: the
  calls ``receval.delayed.marts.cvr_by_day_table`` makes for segment ``all``; the
  ``--check-dbt`` run checks equality with that function too); ``survival_prediction``
  (the same estimate with its prediction interval of the day's own final rate, whose
  target is ``realised``). Chapelle's DFM
  (``receval.delayed.dfm.DelayedFeedbackModel.cohort_rates``: one intercept per click day,
  one exponential or Weibull delay law) joins the dict when the package has it
  (:func:`dfm_method`). Another method is one more entry.
* Truth per click day, over the day's clicked impressions of the warehouse:
  ``expected`` = mean of ``p_purchase_given_click * q_A`` (``truth/impressions.parquet``
  and world.json's ``q_attribution_window``: the probability that a bought click's
  purchase falls inside the attribution window), the expected eventual rate given which
  impressions were clicked; ``realised`` = the share of those clicks whose
  ``truth/impressions.parquet.converted`` is true (their eventual label, as
  ``test_dbt_delayed.py`` defines it). The survival interval targets ``expected``: its variance
  is the Bernoulli variance of every click's outcome, including the purchases already
  seen, which the realised rate shares with the estimate (see docs/benchmarks.md).
* Diagnostics per cell: the true mean arrival probability (the simulator's delay mixture
  at each click's elapsed time, conditional on D <= W) against the curve's, an oracle
  interval that divides by the true one (numerator noise only), and the unclustered
  standard error.

Rerun::

    .venv/bin/python benchmarks/delayed_coverage.py --worlds 200 --users 3000 --items 5000 --check-dbt
    .venv/bin/python benchmarks/delayed_coverage.py --worlds 200 --users 300 --items 5000  # tiny-sized days
    .venv/bin/python benchmarks/delayed_coverage.py --worlds 60 --users 300 --items 200    # the tiny preset
    .venv/bin/python benchmarks/delayed_coverage.py --summarise-only --tag u3000_i5000     # re-read the cells

Writes ``benchmarks/results/delayed_coverage_<tag>.json`` (summary; tag ``u<users>_i<items>``)
and ``..._cells.csv`` (one row per world x click day). Results: docs/benchmarks.md,
*Delayed feedback: coverage over repeated worlds*.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
from scipy import stats

from receval.delayed import DelayDistribution, SurvivalReweighting
from receval.metrics.uncertainty import mean_with_clt
from receval.simulate import get_preset, simulate
from receval.simulate.config import SimConfig
from receval.simulate.truth import attribute_purchases, counted_clicks

ROOT = Path(__file__).resolve().parents[1]
LANDED_UNTIL = "2026-09-08"     # the 8th day of a world starting 2026-09-01
IMMATURE_DAYS = 7
ALPHA = 0.05
WINDOW_HOURS = 7 * 24.0  # the dbt var attribution_window_days (7) x 24, as in the worlds
CLICK_COLUMNS = ["event_id", "user_id", "click_date", "clicked_at", "is_converted", "purchased_at",
                 "delay_hours", "elapsed_hours"]

# name -> function(clicks frame, window_hours, alpha) -> frame indexed by click_date with
# columns estimate, ci_low, ci_high (std_error and other columns optional, kept as <name>_<col>)
Method = Callable[[pd.DataFrame, float, float], pd.DataFrame]


def world_config(users: int = 3000, items: int = 5000, preset: str = "tiny") -> SimConfig:
    """The benchmark's world: the preset, 16 days, ``users`` users and ``items`` items, and
    only the entities the delayed-feedback nodes read (no served features, shadow scores or
    candidate log)."""
    return replace(get_preset(preset), pre_days=2, main_days=14, n_users=users, n_items=items,
                   write_candidates=False, served_features_share=0.0, candidate_log_share=0.0,
                   shadow_share=0.0)


# ------------------------------------------------------------------ the clicks table
def _landed_files(raw: Path, entity: str, skip: set[str]) -> list[str]:
    return sorted(str(p) for p in (raw / entity).glob("date=*/hour=*/*.parquet")
                  if str(p.relative_to(raw)) not in skip)


def landed_clicks(world: Path) -> tuple[pd.DataFrame, pd.Timestamp]:
    """``int_delayed__clicks``' columns (:data:`CLICK_COLUMNS`) from ``world``/raw, and the data's end.

    Clean rows: every row of a landed file, less the fault rows and files listed in
    ``truth/faults.parquet`` (bad rows carry fresh event_ids; the broken-schema file is
    skipped whole), one row per event_id (redeliveries share event_id and ts). Labels:
    ``receval.simulate.truth.counted_clicks`` and ``attribute_purchases``, the rule the
    simulator labels its truth with. The data's end is the end of the newest arrival hour
    holding an impressions, clicks or conversions file. Delays and elapsed times count
    whole-second boundaries, as ``dbt.datediff(..., 'second')`` does on DuckDB.
    """
    raw = world / "raw"
    faults = pd.read_parquet(world / "truth" / "faults.parquet", columns=["entity", "event_id", "reason", "file"])
    skip = set(faults.loc[faults["reason"] == "schema_mismatch", "file"])
    con = duckdb.connect()
    frames, hours = {}, []
    for entity, cols in (("impressions", "event_id, request_id, user_id, item_id, ts"),
                         ("clicks", "event_id, request_id, user_id, item_id, ts"),
                         ("conversions", "event_id, user_id, item_id, ts, revenue")):
        files = _landed_files(raw, entity, skip)
        hours += [pd.Timestamp(Path(f).parent.parent.name.removeprefix("date="))
                  + pd.Timedelta(hours=int(Path(f).parent.name.removeprefix("hour="))) for f in files]
        bad = faults.loc[faults["entity"] == entity, ["event_id"]]
        con.register("bad", bad)
        frames[entity] = con.execute(
            f"select {cols} from read_parquet(?, union_by_name = true) "
            f"where event_id not in (select event_id from bad) "
            f"qualify row_number() over (partition by event_id order by ts) = 1", [files]).df()
        con.unregister("bad")
    con.close()
    as_of = max(hours) + pd.Timedelta(hours=1)
    config = json.loads((world / "truth" / "world.json").read_text())["config"]
    window = pd.Timedelta(days=config["attribution_window_days"])
    counted = counted_clicks(frames["impressions"], frames["clicks"],
                             pd.Timedelta(minutes=config["click_window_minutes"]))
    attributed = attribute_purchases(counted, frames["conversions"], window).dropna(subset=["click_event_id"])
    attributed = attributed.merge(
        counted[["click_event_id", "impression_event_id", "ts"]].drop_duplicates("click_event_id")
        .rename(columns={"ts": "credited_click_at"}), on="click_event_id")
    first_purchase = (attributed.sort_values(["ts", "event_id"]).drop_duplicates("impression_event_id")
                      .set_index("impression_event_id"))
    clicks = (counted.groupby("impression_event_id")["ts"].min().rename("clicked_at").to_frame()
              .join(first_purchase[["ts", "credited_click_at"]].rename(columns={"ts": "purchased_at"})))
    imps = frames["impressions"].set_index("event_id")
    clicks["user_id"] = imps.loc[clicks.index, "user_id"].to_numpy()
    clicks["click_date"] = clicks["clicked_at"].dt.normalize()
    clicks["is_converted"] = clicks["purchased_at"].notna()
    clicks["delay_hours"] = _whole_seconds(clicks["credited_click_at"], clicks["purchased_at"]) / 3600.0
    elapsed = _whole_seconds(clicks["clicked_at"], pd.Series(as_of, index=clicks.index)) / 3600.0
    clicks["elapsed_hours"] = np.maximum(elapsed, clicks["delay_hours"].fillna(0.0))
    out = clicks.rename_axis("event_id").reset_index()[CLICK_COLUMNS]
    return out.sort_values("event_id").reset_index(drop=True), as_of


def _whole_seconds(start: pd.Series, end: pd.Series) -> pd.Series:
    """Second boundaries crossed from start to end (DuckDB's date_diff('second', ...))."""
    to_s = lambda s: s.astype("datetime64[us]").astype("int64") // 1_000_000  # noqa: E731
    return (to_s(end) - to_s(start)).where(end.notna()).astype(float)



# ---------------------------------------------------------------------- the methods
def naive_method(clicks: pd.DataFrame, window_hours: float, alpha: float) -> pd.DataFrame:
    """The rate so far per click day, CLT interval clustered on users (fct_cvr_by_day's naive_cvr)."""
    rows = {}
    for day, c in clicks.groupby("click_date", sort=True):
        r = mean_with_clt(c["is_converted"].to_numpy(np.float64), group_ids=c["user_id"].to_numpy(),
                          alpha=alpha, bounds=(0.0, 1.0))
        rows[day] = {"estimate": r.value, "std_error": r.std_error, "ci_low": r.ci_low, "ci_high": r.ci_high}
    return pd.DataFrame.from_dict(rows, orient="index")


def survival_reweighting_method(clicks: pd.DataFrame, window_hours: float, alpha: float) -> pd.DataFrame:
    """fct_cvr_by_day's corrected_cvr, segment ``all``: one delay curve on every purchase seen,
    then the survival re-weighted rate of each click day, clustered on users (the calls of
    ``receval.delayed.marts.cvr_by_day_table``)."""
    bought = clicks[clicks["is_converted"]]
    curve = DelayDistribution(window_hours, horizons=(), quantile_levels=(), alpha=alpha).estimate_delay(
        bought["delay_hours"], bought["elapsed_hours"])
    reweighting = SurvivalReweighting(alpha=alpha)
    rows = {}
    for day, c in clicks.groupby("click_date", sort=True):
        y, e, users = (c["is_converted"].to_numpy(np.float64), c["elapsed_hours"].to_numpy(np.float64),
                       c["user_id"].to_numpy())
        r = reweighting.estimate_eventual_rate(y, e, curve, group_ids=users)
        unclustered = mean_with_clt(y, alpha=alpha).std_error
        var_f = r.arrival_probability_std_error ** 2
        f = r.arrival_probability
        rows[day] = {"estimate": r.estimate, "std_error": r.std_error, "ci_low": r.ci_low, "ci_high": r.ci_high,
                     "arrival": f, "arrival_se": r.arrival_probability_std_error,
                     "se_numerator": r.naive_std_error / f,
                     "se_unclustered": math.sqrt(unclustered ** 2 / f ** 2 + r.naive ** 2 * var_f / f ** 4),
                     "curve_purchases": curve.n, "prediction_std_error": r.prediction_std_error,
                     "prediction_low": r.prediction_low, "prediction_high": r.prediction_high}
    return pd.DataFrame.from_dict(rows, orient="index")


def survival_prediction_method(clicks: pd.DataFrame, window_hours: float, alpha: float) -> pd.DataFrame:
    """The same estimate with fct_cvr_by_day's final_cvr_prediction interval: the prediction
    interval of the click day's own final rate (its target is the realised rate)."""
    rows = survival_reweighting_method(clicks, window_hours, alpha)
    return pd.DataFrame({"estimate": rows["estimate"], "std_error": rows["prediction_std_error"],
                         "ci_low": rows["prediction_low"], "ci_high": rows["prediction_high"]})


def dfm_method(delay: str) -> Method:
    """Chapelle's delayed feedback model (``receval.delayed.dfm``): one intercept per click
    day, one delay law (``exponential``: Chapelle's; ``weibull``) shared by every day,
    cluster-robust on users (``DelayedFeedbackModel.cohort_rates``)."""
    def method(clicks: pd.DataFrame, window_hours: float, alpha: float) -> pd.DataFrame:
        from receval.delayed.dfm import DelayedFeedbackModel
        rates = DelayedFeedbackModel(delay, window=window_hours, alpha=alpha).cohort_rates(
            clicks["click_date"].to_numpy(), clicks["is_converted"].to_numpy(),
            clicks["delay_hours"].to_numpy(np.float64), clicks["elapsed_hours"].to_numpy(np.float64),
            group_ids=clicks["user_id"].to_numpy())
        return pd.DataFrame({"estimate": rates.estimate, "std_error": rates.std_error, "ci_low": rates.ci_low,
                             "ci_high": rates.ci_high}, index=pd.DatetimeIndex(rates.cohorts))
    return method


METHODS: dict[str, Method] = {"naive": naive_method, "survival_reweighting": survival_reweighting_method,
                              "survival_prediction": survival_prediction_method}
try:  # Chapelle's DFM, where the package has it
    import receval.delayed.dfm  # noqa: F401
    METHODS |= {"dfm_exponential": dfm_method("exponential"), "dfm_weibull": dfm_method("weibull")}
except ImportError:
    pass


# ------------------------------------------------------------------------ the truth
def true_delay_cdf(config: dict, hours: np.ndarray) -> np.ndarray:
    """F(t) = P(D <= t | D <= W) of the simulator's delay mixture (events.py): a lognormal
    capped below a day, uniform on 1-7 d, uniform on 7-14 d (beyond W)."""
    fast, mid, _ = config["purchase_delay_shares"]
    w = config["attribution_window_days"] * 24.0
    t = np.minimum(np.asarray(hours, float), w)
    with np.errstate(divide="ignore"):
        g = stats.norm.cdf(np.log(np.maximum(t, 1e-12) / config["purchase_fast_median_h"])
                           / config["purchase_fast_sigma"])
    g = np.where(t >= 24.0 - 1.0 / 3600.0, 1.0, g)
    u = np.clip((t - 24.0) / (w - 24.0), 0.0, 1.0)
    return (fast * g + mid * u) / (fast + mid)


def world_cells(world: Path, seed: int, methods: dict[str, Method]) -> pd.DataFrame:
    """One row per immature click day of one world: the methods' rates and the truths."""
    info = json.loads((world / "truth" / "world.json").read_text())
    config = info["config"]
    window = config["attribution_window_days"] * 24.0
    clicks, as_of = landed_clicks(world)
    truth = pd.read_parquet(world / "truth" / "impressions.parquet",
                            columns=["event_id", "converted", "p_purchase_given_click"])
    lab = clicks.merge(truth, on="event_id", how="left", validate="one_to_one")
    if lab["converted"].isna().any():
        raise AssertionError(f"world {seed}: {int(lab['converted'].isna().sum())} clicked impressions not in truth")
    lab["expected"] = lab["p_purchase_given_click"] * info["q_attribution_window"]
    lab["arrival_true"] = true_delay_cdf(config, lab["elapsed_hours"].to_numpy())
    by_day = lab.groupby("click_date", sort=True).agg(
        n_clicks=("event_id", "size"), n_users=("user_id", "nunique"), n_converted=("is_converted", "sum"),
        n_eventual=("converted", "sum"), realised=("converted", "mean"), expected=("expected", "mean"),
        arrival_true=("arrival_true", "mean"), min_elapsed=("elapsed_hours", "min"))
    for name, method in methods.items():
        est = method(clicks, window, ALPHA)
        by_day = by_day.join(est.add_prefix(f"{name}_"))
    # the days not yet mature: the last 7 (the 8th-last can hold a click exactly W old, 'partial')
    immature = by_day[by_day["min_elapsed"] < window].tail(IMMATURE_DAYS).copy()
    if len(immature) != IMMATURE_DAYS:
        raise AssertionError(f"world {seed}: {len(immature)} immature click days")
    immature["age_days"] = np.arange(len(immature), 0, -1)
    immature["seed"] = seed
    immature["as_of"] = as_of
    return immature.rename_axis("click_date").reset_index()


# --------------------------------------------------------------------- the summary
def _share(x: pd.Series) -> dict:
    x = x.dropna().astype(float)
    n = len(x)
    p = float(x.mean()) if n else math.nan
    return {"share": p, "se": math.sqrt(p * (1 - p) / n) if n else math.nan, "n": n}


def summarise(cells: pd.DataFrame, methods: list[str]) -> dict:
    out = {}
    for target in ("expected", "realised"):
        t = cells[target]
        per = {}
        for name in methods:
            lo, hi, est = cells[f"{name}_ci_low"], cells[f"{name}_ci_high"], cells[f"{name}_estimate"]
            covered = (lo <= t) & (t <= hi)
            rel = (est - t) / t
            z = (est - t) / cells[f"{name}_std_error"]
            groups = {**{int(a): g.index for a, g in cells.groupby("age_days")}, "pooled": cells.index}
            per[name] = {str(a): {
                "coverage": _share(covered[idx]),
                # the cells of one world share a curve: the pooled SE over worlds' coverage
                "coverage_se_by_world": float(covered[idx].groupby(cells.loc[idx, "seed"]).mean().std(ddof=1)
                                              / math.sqrt(cells.loc[idx, "seed"].nunique())),
                "mean_rel_error": float(rel[idx].mean()), "mean_rel_error_se": float(rel[idx].std(ddof=1) / math.sqrt(len(idx))),
                "mean_abs_rel_error": float(rel[idx].abs().mean()),
                "z_mean": float(z[idx].mean()), "z_sd": float(z[idx].std(ddof=1)),
                "mean_rel_width": float(((hi - lo) / t)[idx].mean()),
            } for a, idx in groups.items()}
        # naive more than 20% below the truth: how often the correction is within 5%
        low = cells[cells["naive_estimate"] < 0.8 * t]
        tl = low[target]
        close = {}
        for name in methods:
            if name == "naive":
                continue
            rel = (low[f"{name}_estimate"] - tl) / tl
            # the share within 5% an unbiased estimate with the reported SE would reach
            ceiling = 2 * stats.norm.cdf(0.05 * tl / low[f"{name}_std_error"]) - 1
            close[name] = {"within_5pct": _share(rel.abs() <= 0.05), "mean_rel_error": float(rel.mean()),
                           "mean_abs_rel_error": float(rel.abs().mean()),
                           "share_within_5pct_if_unbiased": float(ceiling.mean()),
                           "median_rel_se": float((low[f"{name}_std_error"] / tl).median())}
        out[target] = {"methods": per, "naive_more_than_20pct_low": {
            **_share(cells["naive_estimate"] < 0.8 * t), "by_age": {
                int(a): float((g["naive_estimate"] < 0.8 * g[target]).mean()) for a, g in cells.groupby("age_days")},
            "corrected": close}}
    # diagnostics of the survival re-weighting's interval (target: expected)
    s = "survival_reweighting"
    t = cells["expected"]
    oracle = cells["naive_estimate"] / cells["arrival_true"]
    oracle_se = cells["naive_std_error"] / cells["arrival_true"]
    z = stats.norm.ppf(1 - ALPHA / 2)
    # the curve's mean arrival probability against the true one, in its standard errors
    # (cells whose arrival is 1 without uncertainty -- every click past the last delay -- left out)
    arrival_z = ((cells[f"{s}_arrival"] - cells["arrival_true"])
                 / cells[f"{s}_arrival_se"].where(cells[f"{s}_arrival_se"] > 0))
    diag = {}
    for a, g in [*cells.groupby("age_days"), ("pooled", cells)]:
        i = g.index
        diag[str(a)] = {
            "arrival_curve": float(cells.loc[i, f"{s}_arrival"].mean()),
            "arrival_true": float(cells.loc[i, "arrival_true"].mean()),
            "arrival_rel_bias": float((cells[f"{s}_arrival"] / cells["arrival_true"] - 1)[i].mean()),
            "arrival_z_mean": float(arrival_z[i].mean()),
            "arrival_z_sd": float(arrival_z[i].std(ddof=1)),
            "arrival_z_n": int(arrival_z[i].notna().sum()),
            "share_of_variance_from_curve": float((1 - (cells[f"{s}_se_numerator"] / cells[f"{s}_std_error"]) ** 2)[i].mean()),
            "oracle_coverage": _share(((oracle - z * oracle_se <= t) & (t <= oracle + z * oracle_se))[i]),
            "unclustered_coverage": _share(((cells[f"{s}_estimate"] - z * cells[f"{s}_se_unclustered"] <= t)
                                            & (t <= cells[f"{s}_estimate"] + z * cells[f"{s}_se_unclustered"]))[i]),
            "se_clustered_over_unclustered": float((cells[f"{s}_std_error"] / cells[f"{s}_se_unclustered"])[i].mean()),
            "realised_minus_expected_rel": float(((cells["realised"] - t) / t)[i].mean()),
            "realised_minus_expected_rel_se": float(((cells["realised"] - t) / t)[i].std(ddof=1) / math.sqrt(len(i))),
        }
    out["diagnostics_survival_reweighting_vs_expected"] = diag
    return out


def print_table(summary: dict, methods: list[str], n_worlds: int) -> None:
    for target in ("expected", "realised"):
        print(f"\ntruth = {target} rate; {n_worlds} worlds")
        print(f"{'age':>6s} " + " ".join(f"{m[:12]:>12s} cov (se)   rel.err" for m in methods))
        per = summary[target]["methods"]
        for a in [*map(str, range(1, IMMATURE_DAYS + 1)), "pooled"]:
            cols = []
            for m in methods:
                r = per[m].get(a)
                if r is None:
                    cols.append(" " * 30)
                    continue
                c = r["coverage"]
                cols.append(f"{c['share']:9.3f} ({c['se']:.3f}) {r['mean_rel_error']:+8.3%}")
            print(f"{a:>6s} " + " ".join(cols))
        low = summary[target]["naive_more_than_20pct_low"]
        print(f"naive > 20% low: {low['share']:.3f} of cells ({low['n']}); " + "; ".join(
            f"{m}: within 5% in {c['within_5pct']['share']:.3f} of them (n {c['within_5pct']['n']}, "
            f"{c['share_within_5pct_if_unbiased']:.3f} if unbiased at its SE), mean rel. error "
            f"{c['mean_rel_error']:+.3%}" for m, c in low["corrected"].items()))


# ----------------------------------------------------------------- the dbt check
def check_against_dbt(world: Path, scratch: Path) -> dict:
    """Build ``int_delayed__clicks`` with dbt on ``world`` and compare it with
    :func:`landed_clicks`, and cvr_by_day_table (segment all) with the methods."""
    sys.path.insert(0, str(ROOT / "tests" / "python"))
    from dbt_runner import TINY_VARS, Warehouse  # the tests' isolated-warehouse helper
    from receval.delayed.marts import cvr_by_day_table

    t0 = time.perf_counter()
    wh = Warehouse(scratch / "warehouse", world / "raw", TINY_VARS)
    wh.dbt("seed")
    wh.dbt("run", "--select", "+int_delayed__clicks")
    dbt_seconds = time.perf_counter() - t0
    ours, _ = landed_clicks(world)
    theirs = wh.query("select * from main.int_delayed__clicks order by event_id")
    theirs["click_date"] = pd.to_datetime(theirs["click_date"])
    theirs_cmp = theirs[CLICK_COLUMNS].reset_index(drop=True)
    ours_cmp = ours.astype({c: theirs_cmp[c].dtype for c in CLICK_COLUMNS if c != "click_date"} | {"click_date": "datetime64[us]"})
    theirs_cmp = theirs_cmp.astype({"click_date": "datetime64[us]", "clicked_at": "datetime64[us]",
                                    "purchased_at": "datetime64[us]"})
    ours_cmp = ours_cmp.astype({"clicked_at": "datetime64[us]", "purchased_at": "datetime64[us]"})
    pd.testing.assert_frame_equal(ours_cmp, theirs_cmp, check_exact=True)
    # fct_cvr_by_day's function, segment all: on our table it must give the methods' numbers
    # exactly; on dbt's (same rows, another row order) to rounding
    sr = survival_reweighting_method(ours, WINDOW_HOURS, ALPHA)
    nv = naive_method(ours, WINDOW_HOURS, ALPHA)
    with_segments = ours.assign(device="unknown", item_category="unknown", user_tenure="unknown")
    dbt_table = duckdb.connect(str(wh.database), read_only=True).sql(
        "select * from main.int_delayed__clicks").to_arrow_table()
    max_rel = 0.0
    for table, exact in ((pa.Table.from_pandas(with_segments, preserve_index=False), True), (dbt_table, False)):
        mart = cvr_by_day_table(table, window_hours=WINDOW_HOURS, alpha=ALPHA).to_pandas()
        mart = mart[mart["segment_type"] == "all"].reset_index(drop=True)
        for col in ("cvr", "std_error", "ci_low", "ci_high"):
            for method, prefix in ((sr, "corrected"), (nv, "naive")):
                got = method["estimate" if col == "cvr" else col].to_numpy()
                want = mart[f"{prefix}_{col}"].to_numpy()
                if exact:
                    np.testing.assert_array_equal(got, want, err_msg=f"{prefix}_{col}")
                else:
                    max_rel = max(max_rel, float(np.max(np.abs(got - want) / np.abs(want))))
    if max_rel > 1e-12:
        raise AssertionError(f"cvr_by_day_table on the dbt table differs by {max_rel:g} (relative)")
    return {"rows": len(theirs), "converted": int(theirs["is_converted"].sum()), "dbt_seconds": round(dbt_seconds, 1),
            "clicks_table_equal": True, "cvr_by_day_table_all_equal": True,
            "max_rel_diff_on_dbt_table_row_order": max_rel}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worlds", type=int, default=200)
    ap.add_argument("--first-seed", type=int, default=1000)
    ap.add_argument("--users", type=int, default=3000, help="users per world (tiny preset: 300)")
    ap.add_argument("--items", type=int, default=5000, help="items per world (tiny preset: 200)")
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--check-dbt", action="store_true",
                    help="build the first world's int_delayed__clicks with dbt and check the equality first")
    ap.add_argument("--scratch", type=Path, default=Path("/dev/shm") if Path("/dev/shm").is_dir() else None,
                    help="where the worlds are simulated (one at a time, removed after use)")
    ap.add_argument("--tag", default=None, help="suffix of the result files (default: u<users>_i<items>)")
    ap.add_argument("--summarise-only", action="store_true",
                    help="recompute the summary from the saved cells (no simulation)")
    args = ap.parse_args()
    tag = args.tag or f"u{args.users}_i{args.items}"
    results = ROOT / "benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    if args.summarise_only:
        path = results / f"delayed_coverage_{tag}.json"
        out = json.loads(path.read_text())
        cells = pd.read_csv(results / f"delayed_coverage_{tag}_cells.csv")
        out["summary"] = summarise(cells, out["methods"])
        path.write_text(json.dumps(out, indent=2, default=str))
        print_table(out["summary"], out["methods"], out["worlds"])
        print(json.dumps(out["summary"]["diagnostics_survival_reweighting_vs_expected"], indent=1))
        return
    scratch = Path(tempfile.mkdtemp(prefix="receval_delayed_cov_", dir=args.scratch))
    cfg = world_config(args.users, args.items, args.preset)
    t0 = time.perf_counter()
    check = None
    cells, sim_s, est_s = [], 0.0, 0.0
    try:
        for s in range(args.worlds):
            seed = args.first_seed + s
            world = scratch / f"world_{seed}"
            t = time.perf_counter()
            simulate(cfg, seed, world, until=LANDED_UNTIL)
            sim_s += time.perf_counter() - t
            if args.check_dbt and s == 0:
                check = check_against_dbt(world, scratch / "dbt")
                print(f"dbt check: {check}", flush=True)
            t = time.perf_counter()
            cells.append(world_cells(world, seed, METHODS))
            est_s += time.perf_counter() - t
            shutil.rmtree(world)
            if (s + 1) % 10 == 0:
                print(f"{s + 1} worlds, {time.perf_counter() - t0:.0f} s", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    cells = pd.concat(cells, ignore_index=True)
    methods = list(METHODS)
    summary = summarise(cells, methods)
    wall = time.perf_counter() - t0
    out = {"worlds": args.worlds, "first_seed": args.first_seed, "preset": args.preset, "users": args.users,
           "items": args.items,
           "landed_until": LANDED_UNTIL, "alpha": ALPHA, "methods": methods, "cells": len(cells),
           "seconds": round(wall, 1), "simulate_seconds": round(sim_s, 1), "estimate_seconds": round(est_s, 1),
           "cpus": os.cpu_count(), "load_average": os.getloadavg(), "dbt_check": check,
           "mean_clicks_per_day": float(cells["n_clicks"].mean()),
           "mean_eventual_purchases_per_day": float(cells["n_eventual"].mean()),
           "mean_users_per_day": float(cells["n_users"].mean()),
           "mean_curve_purchases": float(cells["survival_reweighting_curve_purchases"].mean()),
           "summary": summary}
    (results / f"delayed_coverage_{tag}.json").write_text(json.dumps(out, indent=2, default=str))
    cells.to_csv(results / f"delayed_coverage_{tag}_cells.csv", index=False)
    print_table(summary, methods, args.worlds)
    print(json.dumps(summary["diagnostics_survival_reweighting_vs_expected"], indent=1))
    print(f"{wall:.0f} s (simulate {sim_s:.0f} s, estimate {est_s:.0f} s); written "
          f"{results / f'delayed_coverage_{tag}.json'}")


if __name__ == "__main__":
    main()
