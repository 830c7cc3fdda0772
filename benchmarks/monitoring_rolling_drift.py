"""Benchmark of receval.monitoring.rolling_drift_table on a built warehouse (fct_feature_drift's
warehouse source, without dbt).

    .venv/bin/python benchmarks/monitoring_rolling_drift.py       # the default world's warehouse
    .venv/bin/python benchmarks/monitoring_rolling_drift.py --database PATH --repeats 3 --by model_id

Rows: every row of ``main.int_features__impressions`` (read-only) with the features of the var
``monitoring_features`` in dbt_project.yml, segments ``monitoring_feature_segments``. Windows
as ``int_monitoring__reference_windows`` computes them with the default vars: day d's
reference is the ``split_train_days`` days ending ``split_validation_days + split_test_days``
days before d; a day whose window holds fewer than ``monitoring_min_reference_days`` days
with impressions is warm_up. Each feature's first day is the data's first day plus its
window_days. The call is timed ``--repeats`` times (median wall time reported); the
(feature, segment) rows that warn or alert on analysis days are listed. Results are printed
and written to benchmarks/results/monitoring_rolling_drift.json.

Timings depend on the machine and on whatever else runs on it; the JSON records the CPU
count and the load average at start and end.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import yaml

from receval.monitoring.rolling import rolling_drift_table

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "monitoring_rolling_drift.json"


def project_vars() -> dict:
    return yaml.safe_load((ROOT / "dbt_project.yml").read_text())["vars"]


def reference_windows(days: list[dt.date], vars_: dict) -> pa.Table:
    """int_monitoring__reference_windows with the default (trailing) window."""
    length = vars_["monitoring_reference_days"] or vars_["split_train_days"]
    lag = vars_["monitoring_reference_lag_days"] or vars_["split_validation_days"] + vars_["split_test_days"]
    have = np.array(sorted(days), dtype="datetime64[D]")
    rows = []
    for d in sorted(days):
        start, end = d - dt.timedelta(days=length + lag - 1), d - dt.timedelta(days=lag)
        n = int(((have >= np.datetime64(start)) & (have <= np.datetime64(end))).sum())
        period = "warm_up" if n < vars_["monitoring_min_reference_days"] else "analysis"
        rows.append((d, start, end, n, period))
    names = ["impression_date", "reference_start_date", "reference_end_date", "n_reference_days", "period"]
    return pa.table({k: [r[i] for r in rows] for i, k in enumerate(names)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", default=str(ROOT / "warehouse" / "whole_default" / "receval.duckdb"))
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--ks-p-value", default="limit", choices=["limit", "scipy"])
    parser.add_argument("--by", nargs="*", default=[], help="fixed grouping columns (e.g. model_id)")
    args = parser.parse_args()

    vars_ = project_vars()
    specs = vars_["monitoring_features"]
    segments = list(vars_["monitoring_feature_segments"])
    features = {s["name"]: s["kind"] for s in specs}
    load_start = os.getloadavg()
    t0 = time.perf_counter()
    with duckdb.connect(args.database, read_only=True) as con:
        cols = ", ".join(["impression_date", *args.by, *segments, *features])
        rows = con.sql(f"select {cols} from main.int_features__impressions").to_arrow_table()
    load_s = time.perf_counter() - t0
    days = sorted(set(rows.column("impression_date").to_pylist()))
    windows = reference_windows(days, vars_)
    first_days = {s["name"]: days[0] + dt.timedelta(days=int(s["window_days"])) for s in specs}

    def run():
        return rolling_drift_table(
            rows, features, day="impression_date", windows=windows, by=args.by, segments=segments,
            first_days=first_days, min_reference_days=vars_["monitoring_min_reference_days"], ks_p_value=args.ks_p_value,
            n_bins=vars_["monitoring_psi_bins"], epsilon=vars_["monitoring_psi_epsilon"],
            warn=vars_["monitoring_psi_warn"], alert=vars_["monitoring_psi_alert"])

    times, out = [], None
    for _ in range(args.repeats):
        t = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - t)
    df = out.to_pandas()
    fired = df[(df.period == "analysis") & df.status.isin(["warn", "alert"])]
    summary = (fired.groupby(["feature", "segment_type", "segment", "status"])
               .agg(days=("impression_date", "nunique"), first_day=("impression_date", "min"),
                    last_day=("impression_date", "max"), max_psi=("psi", "max"))
               .reset_index().sort_values(["feature", "segment_type", "segment", "status"]))
    result = {
        "database": os.path.relpath(args.database, ROOT),
        "rows": rows.num_rows, "days": len(days), "features": len(features), "segments": segments,
        "by": args.by, "load_s": round(load_s, 3),
        "rolling_drift_table": {"median_s": round(statistics.median(times), 3),
                                "times_s": [round(t, 3) for t in times], "output_rows": out.num_rows},
        "analysis_days": [str(d) for d in sorted(set(df.impression_date[df.period == "analysis"]))][:1]
                         + [str(max(df.impression_date))],
        "fired_on_analysis_days": json.loads(summary.to_json(orient="records", date_format="iso")),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "loadavg_start": load_start, "loadavg_end": os.getloadavg()},
    }
    print(json.dumps({k: v for k, v in result.items() if k != "fired_on_analysis_days"}, indent=2))
    print(summary.to_string(index=False))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
