"""Materialise parts (CTEs) of the compiled int_features__impressions one at a time and
report each one's seconds and peak DuckDB temp (spill) size: where the point-in-time
features' time and spill go on a large world.

    python benchmarks/feature_parts.py --world data/large features__user_recent features__items
    python benchmarks/feature_parts.py --world data/large --groups   # the three groups, then the assembly on them

Builds the features' inputs (staging, labels, items, users, the stream tables) once into
warehouse/feature_parts_<world> with `dbt build` (tests excluded; wall, peak RSS and the
slowest nodes printed) unless they are there,
compiles the model, then runs `create table part_<cte> as <the model's CTEs> select * from
<cte>` per part in one DuckDB connection with the profile's settings (2 threads, the
memory limit of RECEVAL_MEMORY_LIMIT, default 8GB). With --groups: the user group (with the
recent items), the item group and the user x category group as tables, then the model's
final query with those three CTEs reading the tables (the assembly). Results are printed
and written to benchmarks/results/feature_parts_<world>.json. A part that fails (out of
disk) is reported with its temp size at the failure; the warehouse's temp folder is
emptied after each part.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import threading
import time
from pathlib import Path

import duckdb

from dbt_build import PROJECT_DIR, dbt_command, run_measured
from whole_build import slowest_nodes

MODEL = "int_features__impressions"
INPUTS = ["+int_labels__split_dates", "+int_core__items", "+int_core__users", "+stg_landing__requests",
          "+int_features__user_stream", "+int_features__user_category_stream", "+int_features__brand_stream",
          "+int_features__item_stream", "+int_features__global_stream", "+int_features__user_recent_stream"]
GROUPS = {"features__user_recent": "users", "features__items": "items", "features__user_categories": "user_categories"}


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", type=Path, default=PROJECT_DIR / "data" / "large")
    parser.add_argument("--groups", action="store_true")
    parser.add_argument("ctes", nargs="*")
    args = parser.parse_args()

    warehouse = PROJECT_DIR / "warehouse" / f"feature_parts_{args.world.name}"
    raw = args.world / "raw"
    database = warehouse / "receval.duckdb"
    if not database.exists():
        wall, peak = run_measured(*dbt_command(warehouse, raw, "build", "--exclude-resource-type", "test",
                                               "unit_test", "--select", *INPUTS))
        print(f"inputs and streams: {wall:.1f} s, {peak:.2f} GiB; slowest nodes:",
              slowest_nodes(warehouse, 10)[0])
    run_measured(*dbt_command(warehouse, raw, "compile", "--select", MODEL))
    sql = next((warehouse / "target" / "compiled").rglob(f"{MODEL}.sql")).read_text()
    final = sql.rindex("\nselect\n    features.event_id")

    temp = warehouse / "tmp_parts"
    con = duckdb.connect(str(database))
    con.execute(f"set threads=2; set memory_limit='{os.environ.get('RECEVAL_MEMORY_LIMIT', '8GB')}'; "
                f"set temp_directory='{temp}'; set preserve_insertion_order=false; set TimeZone='UTC'")
    watch = TempWatch(temp)
    results = {}

    def part(name: str, query: str) -> None:
        watch.peak, start = 0, time.perf_counter()
        try:
            con.execute(f"create or replace table part_{name} as {query}")
            status = "ok"
        except duckdb.Error as error:
            status = f"failed: {str(error).splitlines()[0][:200]}"
        results[name] = {"status": status, "seconds": round(time.perf_counter() - start, 1),
                         "peak_temp_gb": round(watch.peak / 1e9, 1)}
        print(name, results[name], flush=True)
        shutil.rmtree(temp, ignore_errors=True)

    for cte in args.ctes:
        part(cte, f"{sql[:final]}\nselect * from {cte}")
    if args.groups:
        assembly = sql
        for cte, name in GROUPS.items():
            part(name, f"{sql[:final]}\nselect * from {cte}")
            start = re.search(rf"^{cte} as \(", assembly, flags=re.M)
            end = assembly.index("\n),\n", start.end())
            assembly = f"{assembly[:start.start()]}{cte} as (select * from part_{name}{assembly[end:]}"
        part("assembly", assembly)
    out = PROJECT_DIR / "benchmarks" / "results" / f"feature_parts_{args.world.name}.json"
    out.write_text(json.dumps({"world": str(args.world), "parts": results}, indent=2))


if __name__ == "__main__":
    main()
