"""Benchmark the whole default `dbt build` on a fresh warehouse: what a newcomer waits for.

    python benchmarks/whole_build.py --preset default [--repeats 1]

Simulates the world if it is not on disk, then per repeat, in a fresh warehouse and model
store: `dbt build` of everything, its wall time and peak RSS, the node counts by status and
the slowest nodes from target/run_results.json. Results are printed and written as JSON to
benchmarks/results/whole_build_<preset>.json.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
from collections import Counter
from pathlib import Path

from dbt_build import BIN_DIR, PROJECT_DIR, dbt_command, run_measured


def slowest_nodes(warehouse: Path, n: int) -> tuple[list[dict], dict]:
    """The n slowest nodes of the last invocation and the count of nodes per status."""
    results = json.loads((warehouse / "target" / "run_results.json").read_text())["results"]
    ranked = sorted(results, key=lambda r: r["execution_time"], reverse=True)[:n]
    slowest = [{"node": r["unique_id"].split(".", 2)[-1], "seconds": round(r["execution_time"], 1)} for r in ranked]
    return slowest, dict(Counter(r["status"] for r in results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default", choices=["tiny", "default", "large"])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--top", type=int, default=10, help="slowest nodes to list")
    args = parser.parse_args()

    world = PROJECT_DIR / "data" / args.preset
    if not (world / "truth" / "world.json").exists():
        run_measured([str(BIN_DIR / "receval"), "simulate", "--preset", args.preset, "--seed", str(args.seed),
                      "--out", str(world)], dict(os.environ))
    runs = []
    for _ in range(args.repeats):
        warehouse = PROJECT_DIR / "warehouse" / f"whole_{args.preset}"
        shutil.rmtree(warehouse, ignore_errors=True)
        wall, peak = run_measured(*dbt_command(warehouse, world / "raw", "build"))
        slowest, statuses = slowest_nodes(warehouse, args.top)
        runs.append({"wall_s": round(wall, 1), "peak_rss_gib": round(peak, 2), "statuses": statuses,
                     "slowest": slowest})
    result = {"preset": args.preset, "seed": args.seed, "cpus": os.cpu_count(), "runs": runs,
              "median_wall_s": statistics.median(r["wall_s"] for r in runs)}
    out = PROJECT_DIR / "benchmarks" / "results" / f"whole_build_{args.preset}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
