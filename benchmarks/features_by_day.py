"""Build int_features__impression_features, the point-in-time features, a batch of days at
a time, on a world: wall time, peak RSS, peak DuckDB spill and each batch's seconds.

    python benchmarks/features_by_day.py --world data/large [--batch-rows 2000000 1000000]
    python benchmarks/features_by_day.py --world data/large --batch-rows --then-select \
        +stg_landing__served_features int_monitoring__served_feature_values \
        int_monitoring__reference_windows fct_feature_drift   # drift over the built features

Builds the features' inputs (staging, labels, items, users, the stream tables) once into
warehouse/features_by_day_<world> with `dbt build` (tests excluded; wall, peak RSS and the
slowest nodes printed) unless they are there. Then, per --batch-rows (the var
feature_batch_rows): `dbt run --full-refresh` of the model, and after it an incremental
`dbt run` (no new day: the last day and the look-back are rebuilt). The profile's settings
apply (2 threads, memory limit RECEVAL_MEMORY_LIMIT, default 8GB, temp directory in the
warehouse). With --then-select, a `dbt run` of those nodes follows on the same warehouse
(wall, peak RSS, peak spill, its slowest nodes); `--batch-rows` with no value skips the
features' rebuild. Results are printed and written to
benchmarks/results/features_by_day_<world>.json.
"""
from __future__ import annotations

import argparse
import json
import re
import threading
import time
from datetime import datetime
from pathlib import Path

from dbt_build import PROJECT_DIR, dbt_command, run_measured
from whole_build import slowest_nodes

MODEL = "int_features__impression_features"
INPUTS = ["+int_labels__impressions", "+int_core__items", "+int_core__users", "+stg_landing__requests",
          "+int_features__user_stream", "+int_features__user_category_stream", "+int_features__brand_stream",
          "+int_features__item_stream", "+int_features__global_stream", "+int_features__user_recent_stream"]


class TempWatch:
    """The peak size of a folder's files, sampled twice a second in a thread."""

    def __init__(self, folder: Path):
        self.folder, self.peak = folder, 0
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while True:
            try:
                size = sum(f.stat().st_size for f in self.folder.rglob("*") if f.is_file())
            except OSError:  # a spill file removed while listed
                size = 0
            self.peak = max(self.peak, size)
            time.sleep(0.5)


def batch_seconds(log: Path) -> list[float]:
    """Seconds of each batch of the model's last run, from the timestamps of dbt.log: a batch
    runs from its 'batch k of n' line to the next one (the last to the node's result)."""
    marks = []
    for line in log.read_text().splitlines():
        if f"{MODEL}: batch 1 of" in line:
            marks = []
        if f"{MODEL}: batch " in line or (marks and re.search(rf"OK created .*{MODEL}", line)):
            marks.append(datetime.strptime(line[:15], "%H:%M:%S.%f"))
    # modulo a day: a run across midnight
    return [round((b - a).total_seconds() % 86400, 1) for a, b in zip(marks, marks[1:])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", type=Path, default=PROJECT_DIR / "data" / "large")
    parser.add_argument("--batch-rows", type=int, nargs="*", default=[2_000_000])
    parser.add_argument("--then-select", nargs="+", default=[])
    args = parser.parse_args()

    warehouse = PROJECT_DIR / "warehouse" / f"features_by_day_{args.world.name}"
    raw = args.world / "raw"
    result = {"world": str(args.world), "runs": []}
    if not (warehouse / "receval.duckdb").exists():
        wall, peak = run_measured(*dbt_command(warehouse, raw, "build", "--exclude-resource-type", "test",
                                               "unit_test", "--select", *INPUTS))
        result["inputs"] = {"wall_s": round(wall, 1), "peak_rss_gib": round(peak, 2),
                            "slowest_nodes": slowest_nodes(warehouse, 10)[0]}
        print("inputs:", result["inputs"], flush=True)
    watch = TempWatch(warehouse / "tmp")
    for rows in args.batch_rows:
        for mode in ("full_refresh", "incremental"):
            watch.peak = 0
            flags = ["--full-refresh"] if mode == "full_refresh" else []
            wall, peak = run_measured(*dbt_command(warehouse, raw, "run", "--select", MODEL, *flags,
                                                   extra_vars={"feature_batch_rows": rows}))
            run = {"batch_rows": rows, "mode": mode, "wall_s": round(wall, 1), "peak_rss_gib": round(peak, 2),
                   "peak_spill_gb": round(watch.peak / 1e9, 1),
                   "batch_seconds": batch_seconds(warehouse / "logs" / "dbt.log")}
            result["runs"].append(run)
            print(run, flush=True)
    if args.then_select:
        watch.peak = 0
        wall, peak = run_measured(*dbt_command(warehouse, raw, "run", "--select", *args.then_select))
        result["then"] = {"select": args.then_select, "wall_s": round(wall, 1), "peak_rss_gib": round(peak, 2),
                          "peak_spill_gb": round(watch.peak / 1e9, 1), "slowest_nodes": slowest_nodes(warehouse, 10)[0]}
        print(result["then"], flush=True)
    out = PROJECT_DIR / "benchmarks" / "results" / f"features_by_day_{args.world.name}.json"
    # a run of one part (features or --then-select) keeps the other part's last results
    previous = json.loads(out.read_text()) if out.exists() else {}
    previous.update({key: value for key, value in result.items() if value})
    out.write_text(json.dumps(previous, indent=2))


if __name__ == "__main__":
    main()
