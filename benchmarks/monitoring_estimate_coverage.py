"""How often fct_performance_estimate's prediction intervals cover the realised AUC and click
rate on the default world's days before its drift (2026-09-15 .. 09-29).

    python benchmarks/monitoring_estimate_coverage.py [--warehouse warehouse/whole_default]

Reads the served impressions of a built default warehouse (read-only: the joins behind
int_monitoring__served_impressions) and calls receval.monitoring.estimates.
performance_estimate_table with the device and item_category segments under two reference
windows: one fixed window 2026-09-01 .. 09-14 for every day, and the default trailing one
(28 days ending 2 days before the day; analysis once 7 days of data are in it). Prints the
covered share per model x segment type and writes
benchmarks/results/monitoring_estimate_coverage.json.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path

import duckdb
import pyarrow as pa

from dbt_build import PROJECT_DIR
from receval.monitoring.estimates import performance_estimate_table

ROWS = """
    select i.event_id, i.request_id, i.user_id, i.model_id, i.impression_ts, i.impression_date, i.position,
           f.device, f.item_category, i.score, i.is_clicked, i.is_click_label_mature, i.is_converted,
           i.is_label_mature
    from main.int_features__impressions as f join main.int_labels__impressions as i using (event_id)
"""
FIRST, LAST = dt.date(2026, 9, 15), dt.date(2026, 9, 29)


def windows(days: list[dt.date], fixed: tuple[dt.date, dt.date] | None) -> pa.Table:
    """As int_monitoring__reference_windows computes them (min_reference_days 7)."""
    rows = []
    for d in days:
        start, end = fixed or (d - dt.timedelta(days=29), d - dt.timedelta(days=2))
        n = sum(start <= x <= end for x in days)
        period = ("before_reference" if d < start else "reference" if d <= end
                  else "warm_up" if n < 7 else "analysis")
        rows.append((d, start, end, period))
    return pa.table({"impression_date": pa.array([r[0] for r in rows], pa.date32()),
                     "reference_start_date": pa.array([r[1] for r in rows], pa.date32()),
                     "reference_end_date": pa.array([r[2] for r in rows], pa.date32()),
                     "period": [r[3] for r in rows]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, default=PROJECT_DIR / "warehouse" / "whole_default")
    args = parser.parse_args()
    with duckdb.connect(str(args.warehouse / "receval.duckdb"), read_only=True) as con:
        rows = con.sql(ROWS).to_arrow_table()
    days = sorted(set(rows.column("impression_date").to_pylist()))
    report = {}
    for name, fixed in (("fixed 2026-09-01..14", (dt.date(2026, 9, 1), dt.date(2026, 9, 14))),
                        ("trailing", None)):
        started = time.perf_counter()
        out = performance_estimate_table(rows, windows(days, fixed), segments=["device", "item_category"]).to_pandas()
        seconds = round(time.perf_counter() - started, 1)
        day = out.impression_date.dt.date if hasattr(out.impression_date, "dt") else out.impression_date
        cells = out[(out.status == "estimated") & (day >= FIRST) & (day <= LAST)]
        table = {}
        for figure in ("auc", "click_rate"):
            judged = cells.dropna(subset=[f"{figure}_covered"])
            covered = judged.groupby(["model_id", "segment_type"])[f"{figure}_covered"].agg(["sum", "size"])
            table[figure] = {f"{m} {s}": f"{int(r['sum'])}/{int(r['size'])}" for (m, s), r in covered.iterrows()}
        report[name] = {"seconds": seconds, **table}
        print(name, f"({seconds} s)")
        for figure, shares in table.items():
            for key, share in shares.items():
                print(f"  {figure:10s} {key:30s} {share}")
    out_path = PROJECT_DIR / "benchmarks" / "results" / "monitoring_estimate_coverage.json"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
