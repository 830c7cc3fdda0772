"""Lower bounds of the staging + labels layer: each step it cannot avoid, alone, as one query.

    python benchmarks/labels_floor.py [--warehouse warehouse/bench_large/build] [--raw data/large/raw]

Reads the warehouse that `benchmarks/dbt_build.py --preset large` keeps (its step 1 builds
+fct_impression_labels). Each step runs as a single DuckDB query in a fresh process with
the dbt profile's settings (2 threads, 8 GB), three times; the median counts. Any plan of
the layer does at least one of each, and the steps share only the read of the raw event
ids (0.7 s), so their sum bounds the layer's time from below, whatever the SQL: the
impressions per second it implies is the most the layer can reach on this machine. The
writes read the built mart back: that read is timed apart and taken off them. The bounds
leave out work every real plan also does (deduplicating the clicks and conversions,
attribution, joining the outcomes back).
Results go to benchmarks/results/labels_floor.json.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

PROJECT_DIR = Path(__file__).resolve().parents[1]

CLICK_WINDOW_MINUTES = 30  # dbt_project.yml's default

ALL, REQUIRED = "all 23 columns", "the 11 required columns"
TABLE, PARQUET = "written to a DuckDB table", "published as Parquet"

# Per form of the mart: the impression columns it carries, and its label columns. REQUIRED
# is what the foundation issue asks of the labels, with the keys to join them by.
MARTS = {
    ALL: (["event_id", "request_id", "user_id", "item_id", "position", "ts", "model_id", "score",
           "propensity", "team", "landed_at"], "*"),
    REQUIRED: (["event_id", "request_id", "user_id", "item_id", "ts"],
               "event_id, request_id, user_id, item_id, impression_ts, is_clicked, is_converted, revenue, "
               "seconds_to_click, hours_click_to_purchase, is_label_mature"),
}


def mart_steps(columns: str) -> dict[str, str]:
    """The steps that depend on the form of the labels mart."""
    impression_columns, label_columns = MARTS[columns]
    labels = f"(select {label_columns} from b.fct_impression_labels)"
    return {
        # one validated read of every raw impression (typed columns, reject checks) with the
        # columns the mart carries, and the staged clicks matched to it: the least the
        # click label needs
        f"validated impressions matched to the staged clicks, {columns}": f"""
            select count(c.event_id), {', '.join(f'min(i.{name})' for name in impression_columns)}
            from b.base_landing__impressions as i
            left join b.stg_landing__clicks as c
                on c.request_id = i.request_id and c.item_id = i.item_id
                and c.ts >= i.ts and c.ts <= i.ts + interval {{click_window_minutes}} minute
            where i.reject_reason is null""",
        # The writes read the built mart back; that read is timed apart and taken off them,
        # as a real plan writes straight from its query.
        f"labels read back, {columns}": f"select min(columns(*)) from {labels}",
        # an incremental (delete+insert) mart is a DuckDB table: its rows are written into it once
        f"labels {TABLE}, {columns}": f"create table labels as select * from {labels}",
        # what publish_parquet() does after the table is built
        f"labels {PARQUET}, {columns}":
            f"copy {labels} to '{{scratch}}/labels.parquet' (format parquet, compression zstd)",
    }


STEPS = {
    **mart_steps(ALL),
    **mart_steps(REQUIRED),
    # exact dedupe must at least find the event ids delivered more than once (the raw keys
    # alone: the cheapest way, validating only the candidates afterwards)
    "redelivered impression ids": """
        select count(*) from (select event_id from read_parquet('{raw}/impressions/date=*/hour=*/*.parquet',
                              union_by_name = true) group by event_id having count(*) > 1)""",
    # as staged: its small duplicates table is prebuilt, not counted
    "conversions staged": """
        select count(*), sum(event_id), sum(user_id), sum(item_id), sum(revenue), max(ts)
        from b.stg_landing__conversions""",
}


def time_step(warehouse: Path, raw: Path, sql: str) -> float:
    """Seconds one query takes in this (fresh) process, with the dbt profile's settings."""
    with tempfile.TemporaryDirectory(dir=warehouse.parent) as scratch:
        con = duckdb.connect(f"{scratch}/scratch.duckdb", config={
            "threads": 2, "memory_limit": "8GB", "temp_directory": f"{scratch}/tmp",
            "preserve_insertion_order": False})
        con.execute(f"attach '{warehouse / 'receval.duckdb'}' as b (read_only)")
        start = time.perf_counter()
        con.execute(sql.format(scratch=scratch, raw=raw, click_window_minutes=CLICK_WINDOW_MINUTES)).fetchall()
        seconds = time.perf_counter() - start
        con.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, default=PROJECT_DIR / "warehouse" / "bench_large" / "build")
    parser.add_argument("--raw", type=Path, default=PROJECT_DIR / "data" / "large" / "raw",
                        help="the landing zone the warehouse was built from")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--step", help=argparse.SUPPRESS)  # the child process: time one step
    args = parser.parse_args()
    if args.step:
        print(time_step(args.warehouse, args.raw, STEPS[args.step]))
        return

    with duckdb.connect(str(args.warehouse / "receval.duckdb"), read_only=True) as con:
        impressions = con.sql("select count(*) from fct_impression_labels").fetchall()[0][0]
    steps = {}
    for name in STEPS:
        runs = [float(subprocess.run([sys.executable, __file__, "--warehouse", str(args.warehouse),
                                      "--raw", str(args.raw), "--step", name],
                                     check=True, capture_output=True, text=True).stdout)
                for _ in range(args.repeats)]
        steps[name] = {"runs_s": [round(s, 2) for s in runs], "median_s": round(statistics.median(runs), 2)}
        print(f"{steps[name]['median_s']:6.2f} s  {name}", flush=True)

    def bound(columns: str, *writes: str) -> dict:
        """The unavoidable steps plus the given writes of the labels, each net of reading them back."""
        reads = [f"validated impressions matched to the staged clicks, {columns}", "redelivered impression ids",
                 "conversions staged"]
        seconds = (sum(steps[p]["median_s"] for p in reads)
                   + sum(steps[f"labels {w}, {columns}"]["median_s"] - steps[f"labels read back, {columns}"]["median_s"]
                         for w in writes))
        return {"steps": reads + [f"labels {w}, {columns} (net of the read back)" for w in writes],
                "seconds": round(seconds, 2), "max_impressions_per_s": round(impressions / seconds)}

    result = {
        "impressions": impressions,
        "target_impressions_per_s": 2_000_000,
        "budget_s": round(impressions / 2_000_000, 2),
        "steps": steps,
        "bounds": {
            "as built: incremental table + publication": bound(ALL, TABLE, PARQUET),
            "incremental table, unpublished": bound(ALL, TABLE),
            "Parquet only (no incremental table)": bound(ALL, PARQUET),
            "required columns: incremental table + publication": bound(REQUIRED, TABLE, PARQUET),
            "required columns: incremental table, unpublished": bound(REQUIRED, TABLE),
        },
    }
    for name, b in result["bounds"].items():
        print(f"{b['seconds']:6.2f} s -> at most {b['max_impressions_per_s']:,} impressions/s  ({name})")
    print(f"the 2M/s target allows {result['budget_s']} s")
    out = PROJECT_DIR / "benchmarks" / "results" / "labels_floor.json"
    out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
