"""Benchmark the conversion-label methods of the MMoE under delayed feedback: a model trained on
the data as they stood at the end of day D, scored against the eventual labels.

    .venv/bin/python benchmarks/delayed_training.py --warehouse warehouse/whole_default \\
        --world data/default --cut 2026-10-06

1. Reads a built warehouse READ ONLY (int_features__impressions, int_labels__impressions,
   int_features__item_content) and cuts it at the end of day D (--cut): rows up to D, and
   each row's labels as they stood then -- clicked when the click came before the cut,
   converted when the first attributed purchase did, label_elapsed_hours measured to the
   cut, mature when the click and attribution windows had closed by it. The features are
   point in time (computed from events before the impression), so they are those a build at
   the cut would have given. This is the backtest of docs/delayed_feedback.md; an event
   stamped before the cut but landed after it counts as seen (0.5% of the simulator's events
   land hours late).
2. Splits as the defaults at that cut: train = the 28 days up to D - 2, validation = D - 1,
   test = D. `mature_only` cannot validate on D - 1 (no mature label there: its conversion
   task would not train), so it gets the newest mature days instead: train = the 28 days up
   to D - 9, validation = D - 8.
3. Trains one MMoE (default parameters) per method with `receval.models.training.train_candidate`
   (observed, mature_only, fnw, esdfm), timing each.
4. Scores day D and the last 7 days (D - 6 .. D; in-sample rows for D - 6 .. D - 2 except for
   mature_only) and compares pCTCVR, raw and calibrated, with the FINAL labels: `converted`
   of the world's truth/impressions.parquet (a cut at least 8 days before the world's end
   leaves every label of those rows final). Reports ECE (10 equal-mass bins), log-loss, AUC
   and the ratio of mean prediction to the final rate, next to the oracle (the true
   p_click x p_purchase_given_click).
Results: printed as a markdown table and written to benchmarks/results/delayed_training_<name>.json.
"""
from __future__ import annotations

import os

# Before torch starts its OpenMP runtime: spinning threads stall when other processes share the cores.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import shutil
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from receval.metrics import expected_calibration_error, log_loss, roc_auc
from receval.models.calibration import Calibrator
from receval.models.features import FeatureEncoder
from receval.models.mmoe import TrainedMMoE
from receval.models.training import attach_content, train_candidate

PROJECT_DIR = Path(__file__).resolve().parents[1]
METHODS = ("observed", "mature_only", "fnw", "esdfm")
TRAIN_DAYS = 28


def cut_features(con: duckdb.DuckDBPyConnection, cut: date, *, click_window_minutes: int, attribution_days: int,
                 user_sample: float) -> pa.Table:
    """int_features__impressions up to day ``cut`` with labels as they stood at its end."""
    first = cut - timedelta(days=TRAIN_DAYS + 9)
    columns = [c for c in con.sql("select * from int_features__impressions limit 0").columns
               if c not in ("split", "is_clicked", "is_converted", "is_label_mature", "hours_click_to_purchase",
                            "label_elapsed_hours", "user_recent_item_ids")]
    sample = f"and hash(f.user_id) % 1000 < {int(round(user_sample * 1000))}" if user_sample < 1 else ""
    end = f"timestamp '{cut + timedelta(days=1)} 00:00:00'"
    return con.sql(f"""
        with rows as (
            select {", ".join(f"f.{c}" for c in columns)},
                   coalesce(l.clicked_at < {end}, false) as is_clicked,
                   coalesce(l.is_converted and l.clicked_at < {end} and l.first_purchased_at < {end}, false)
                       as is_converted,
                   l.hours_click_to_purchase
            from int_features__impressions f
            join int_labels__impressions l using (event_id)
            where f.impression_date between date '{first}' and date '{cut}' {sample}
        )
        select * replace (case when is_converted then hours_click_to_purchase end as hours_click_to_purchase),
               date_diff('second', impression_ts, {end}) / 3600.0 as label_elapsed_hours,
               impression_ts + interval {click_window_minutes} minute + interval {attribution_days} day <= {end}
                   as is_label_mature
        from rows
        order by event_id
    """).to_arrow_table()


def with_splits(table: pa.Table, train_end: date, validation: date, test: date | None) -> pa.Table:
    days = pd.Series(table["impression_date"].to_pandas())
    split = np.full(len(days), "out_of_window", dtype=object)
    split[((days > train_end - timedelta(days=TRAIN_DAYS)) & (days <= train_end)).to_numpy()] = "train"
    split[(days == validation).to_numpy()] = "validation"
    if test is not None:
        split[(days == test).to_numpy()] = "test"
    return table.append_column("split", pa.array(split.astype(str)))


def scores(row: dict, table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """Raw and calibrated pCTCVR of ``table``'s rows from a registry row's artifact."""
    path = Path(row["artifact_path"])
    encoder = FeatureEncoder.from_json((path / "encoder.json").read_text())
    raw = TrainedMMoE.load(path).predict(encoder.transform(table))["conversion"]
    return raw, Calibrator.from_dict(json.loads(row["calibration"])).apply(raw)


def metrics(final: np.ndarray, p: np.ndarray) -> dict:
    return {"ece": expected_calibration_error(final, p, n_bins=10, strategy="quantile", n_bootstrap=0).value,
            "log_loss": log_loss(final, p).value, "auc": roc_auc(final, p, n_bootstrap=0).value,
            "mean_over_rate": float(p.mean() / final.mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, default=PROJECT_DIR / "warehouse" / "whole_default",
                        help="a built warehouse folder (its receval.duckdb is opened read only)")
    parser.add_argument("--world", type=Path, default=PROJECT_DIR / "data" / "default",
                        help="the world folder it was built from (truth/impressions.parquet)")
    parser.add_argument("--cut", type=date.fromisoformat, default=date(2026, 10, 6),
                        help="day D: the data as they stood at its end (>= 8 days before the world's end)")
    parser.add_argument("--user-sample", type=float, default=1.0, help="share of users kept (a smaller run)")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--esdfm-window-hours", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the MMoE (MMoEParams.threads)")
    parser.add_argument("--name", default=None, help="results file suffix (default: the warehouse folder's name)")
    args = parser.parse_args()
    world = json.loads((args.world / "truth" / "world.json").read_text())
    click_window, attribution_days = (world["config"]["click_window_minutes"],
                                      world["config"]["attribution_window_days"])
    if date.fromisoformat(world["dates"]["end"]) - args.cut < timedelta(days=attribution_days + 1):
        raise SystemExit(f"--cut {args.cut} is too close to the world's end ({world['dates']['end']}): "
                         "the truth does not hold the final labels of its last days")
    label_window_hours = attribution_days * 24 + click_window / 60
    name = args.name or args.warehouse.name
    result: dict = {"warehouse": str(args.warehouse), "cut": str(args.cut), "user_sample": args.user_sample,
                    "esdfm_window_hours": args.esdfm_window_hours, "threads": args.threads}

    started = time.perf_counter()
    with duckdb.connect(str(args.warehouse / "receval.duckdb"), read_only=True) as con:
        rows = cut_features(con, args.cut, click_window_minutes=click_window, attribution_days=attribution_days,
                            user_sample=args.user_sample)
        content = con.sql("select * from int_features__item_content").to_arrow_table()
    truth = pd.read_parquet(args.world / "truth" / "impressions.parquet",
                            columns=["event_id", "converted", "p_click", "p_purchase_given_click"])
    result["read_s"] = round(time.perf_counter() - started, 1)

    d = args.cut
    evaluation = attach_content(rows.filter(pa.compute.greater_equal(rows["impression_date"],
                                                                     pa.scalar(d - timedelta(days=6)))), content)
    frame = pd.DataFrame({"event_id": evaluation["event_id"].to_numpy(),
                          "date": pd.to_datetime(evaluation["impression_date"].to_pandas()),
                          "observed": evaluation["is_converted"].to_numpy(zero_copy_only=False).astype(int)})
    frame = frame.merge(truth, on="event_id", how="left", validate="one_to_one")
    if frame.converted.isna().any():
        raise SystemExit(f"{int(frame.converted.isna().sum())} evaluation rows are not in the truth")
    frame["final"] = frame.converted.astype(int)
    frame["oracle"] = frame.p_click * frame.p_purchase_given_click
    sets = {"day D": (frame.date == pd.Timestamp(d)).to_numpy(), "last 7 days": np.ones(len(frame), bool)}
    result["evaluation"] = {k: {"rows": int(m.sum()), "final_rate": float(frame.final[m].mean()),
                                "observed_rate_at_cut": float(frame.observed[m].mean())} for k, m in sets.items()}

    store = args.warehouse.parent / f"delayed_training_store_{name}"
    shutil.rmtree(store, ignore_errors=True)
    table = {}
    for method in args.methods.split(","):
        if method == "mature_only":
            split_rows = with_splits(rows, d - timedelta(days=9), d - timedelta(days=8), None)
        else:
            split_rows = with_splits(rows, d - timedelta(days=2), d - timedelta(days=1), d)
        start = time.perf_counter()
        registry = train_candidate(split_rows, content, model_id=f"mmoe_{method}", family="mmoe", store=store,
                                   params={"threads": args.threads}, conversion_labels=method,
                                   esdfm_window_hours=args.esdfm_window_hours, label_window_hours=label_window_hours)
        seconds = time.perf_counter() - start
        row = next(r for r in registry if r["task"] == "conversion")
        if row["status"] != "trained":
            raise SystemExit(f"{method}: conversion not trained: {row['status_reason']}")
        raw, calibrated = scores(row, evaluation)
        table[method] = {"train_s": round(seconds, 1), "best_epoch": row["best_iteration"],
                         "n_train_rows": row["n_train_rows"], "train": [row["train_start"], row["train_end"]],
                         "validation": row["validation_start"]}
        for key, mask in sets.items():
            final = frame.final.to_numpy()[mask]
            table[method][key] = {"raw": metrics(final, raw[mask]), "calibrated": metrics(final, calibrated[mask])}
        print(json.dumps({method: table[method]}, default=str), flush=True)
    table["oracle"] = {key: {"raw": metrics(frame.final.to_numpy()[m], frame.oracle.to_numpy()[m])}
                       for key, m in sets.items()}
    result["methods"] = table
    result["wall_s"] = round(time.perf_counter() - started, 1)
    shutil.rmtree(store, ignore_errors=True)

    out = PROJECT_DIR / "benchmarks" / "results" / f"delayed_training_{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str))
    print(markdown(result))


def markdown(result: dict) -> str:
    lines = []
    for key, info in result["evaluation"].items():
        lines += ["", f"{key}: {info['rows']:,} impressions, final conversion rate {info['final_rate']:.5f} "
                      f"(observed at the cut {info['observed_rate_at_cut']:.5f})", "",
                  "| method | train s | ECE raw | log-loss raw | AUC | mean / final raw | ECE calibrated | "
                  "log-loss calibrated | mean / final calibrated |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for method, row in result["methods"].items():
            raw, cal = row[key]["raw"], row[key].get("calibrated")
            cells = [method, str(row.get("train_s", "")), f"{raw['ece']:.5f}", f"{raw['log_loss']:.5f}",
                     f"{raw['auc']:.4f}", f"{raw['mean_over_rate']:.3f}"]
            cells += ([f"{cal['ece']:.5f}", f"{cal['log_loss']:.5f}", f"{cal['mean_over_rate']:.3f}"] if cal
                      else ["", "", ""])
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
