"""Benchmark the whole default `dbt build` on a fresh warehouse: what a newcomer waits for.

    python benchmarks/whole_build.py --preset default [--repeats 3] [--rebuild]
                                     [--baseline COMMIT --baseline-repeats 1] [--incremental]

Simulates the world if it is not on disk, then per repeat, in a fresh warehouse and model
store: `dbt build` of everything, its wall time and peak RSS, the node counts by status and
the slowest nodes from target/run_results.json. With --rebuild, a second `dbt build` in the
same warehouse follows each cold one: the rebuild after a change with no new data (labels
incremental, candidate versions reused from the store). With --baseline, the same runs of
COMMIT (checked out in a git worktree, its own receval package first on PYTHONPATH)
alternate with this checkout's, so both see the same machine load. With --incremental,
after those runs: the same world simulated without its last day (`receval simulate
--until`) built cold in a fresh warehouse, then its last day landed into the same folder
and `dbt build` timed again: the daily build. Results are printed and written as JSON to
benchmarks/results/whole_build_<preset>.json (whole_build_<preset>_daily.json for a run
with --repeats 0 --incremental).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

from dbt_build import PROJECT_DIR, dbt_command, run_measured, simulate


def slowest_nodes(warehouse: Path, n: int) -> tuple[list[dict], dict]:
    """The n slowest nodes of the last invocation and the count of nodes per status."""
    results = json.loads((warehouse / "target" / "run_results.json").read_text())["results"]
    ranked = sorted(results, key=lambda r: r["execution_time"], reverse=True)[:n]
    slowest = [{"node": r["unique_id"].split(".", 2)[-1], "seconds": round(r["execution_time"], 1)} for r in ranked]
    return slowest, dict(Counter(r["status"] for r in results))


def checkout(commit: str) -> Path:
    """A detached git worktree of commit (reused when it exists)."""
    sha = subprocess.run(["git", "rev-parse", commit], cwd=PROJECT_DIR, check=True, capture_output=True,
                         text=True).stdout.strip()
    tree = Path(f"/tmp/receval_baseline_{sha[:12]}")
    if not tree.exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), sha], cwd=PROJECT_DIR, check=True)
    return tree


def measure(project: Path, warehouse: Path, raw: Path, rebuild: bool, top: int) -> dict:
    """One cold build in a fresh warehouse (and, with rebuild, a second build in it)."""
    shutil.rmtree(warehouse, ignore_errors=True)
    run = build(warehouse, raw, top, project)
    if rebuild:
        run["rebuild"] = build(warehouse, raw, top, project)
    return run


def build(warehouse: Path, raw: Path, top: int, project: Path = PROJECT_DIR) -> dict:
    """`dbt build` of project in warehouse (as it is): its commit, wall, peak RSS, slowest nodes."""
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=project, capture_output=True,
                            text=True).stdout.strip()
    cmd, env = dbt_command(warehouse, raw, "build", project=project)
    env["PYTHONPATH"] = str(project / "src")  # the checkout's own package, not the installed one
    wall, peak = run_measured(cmd, env, cwd=project)
    slowest, statuses = slowest_nodes(warehouse, top)
    return {"commit": commit, "wall_s": round(wall, 1), "peak_rss_gib": round(peak, 2), "statuses": statuses,
            "slowest": slowest}


def daily(preset: str, seed: int, end: str, top: int) -> dict:
    """Cold build of the world without its last day, then that day landed and built."""
    world = PROJECT_DIR / "data" / f"{preset}_daily"
    warehouse = PROJECT_DIR / "warehouse" / f"whole_{preset}_daily"
    shutil.rmtree(warehouse, ignore_errors=True)
    simulate(preset, seed, world, until=(date.fromisoformat(end) - timedelta(days=1)).isoformat())
    cold = build(warehouse, world / "raw", top)
    simulate(preset, seed, world, until=end)
    return {"cold_without_last_day": cold, "incremental_day": build(warehouse, world / "raw", top)}


def summary(runs: list[dict]) -> dict:
    out = {"median_wall_s": statistics.median(r["wall_s"] for r in runs),
           "max_peak_rss_gib": max(r["peak_rss_gib"] for r in runs)}
    if all("rebuild" in r for r in runs):
        out["median_rebuild_wall_s"] = statistics.median(r["rebuild"]["wall_s"] for r in runs)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default", choices=["tiny", "default", "large"])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeats", type=int, default=1, help="cold builds (0: only --incremental)")
    parser.add_argument("--rebuild", action="store_true", help="time a second build of each warehouse")
    parser.add_argument("--baseline", help="a commit to run side by side (alternating)")
    parser.add_argument("--baseline-repeats", type=int, help="runs of the baseline (default: --repeats)")
    parser.add_argument("--incremental", action="store_true", help="time the build after one landed day")
    parser.add_argument("--top", type=int, default=10, help="slowest nodes to list")
    args = parser.parse_args()

    world = PROJECT_DIR / "data" / args.preset
    if not (world / "truth" / "world.json").exists():
        simulate(args.preset, args.seed, world)
    versions = {"this checkout": (PROJECT_DIR, args.repeats)}
    if args.baseline:
        repeats = args.repeats if args.baseline_repeats is None else args.baseline_repeats
        versions = {args.baseline: (checkout(args.baseline), repeats), **versions}
    runs: dict[str, list] = {name: [] for name in versions}
    for i in range(max(n for _, n in versions.values())):
        for name, (project, n) in versions.items():
            if i < n:
                warehouse = PROJECT_DIR / "warehouse" / f"whole_{args.preset}{'_baseline' if project != PROJECT_DIR else ''}"
                runs[name].append(measure(project, warehouse, world / "raw", args.rebuild, args.top))
                print(name, json.dumps(runs[name][-1]), flush=True)
    result = {"preset": args.preset, "seed": args.seed, "cpus": os.cpu_count(),
              "versions": {name: {"runs": r, **summary(r)} for name, r in runs.items() if r}}
    if args.baseline and args.repeats and result["versions"].get(args.baseline):
        base, now = (result["versions"][k]["median_wall_s"] for k in (args.baseline, "this checkout"))
        result["speedup_cold"] = round(base / now, 2)
    if args.incremental:
        end = json.loads((world / "truth" / "world.json").read_text())["dates"]["end"]
        result["daily"] = daily(args.preset, args.seed, end, args.top)
    # a daily-only run (--repeats 0) does not overwrite the cold runs' results
    suffix = "_daily" if not any(runs.values()) else ""
    out = PROJECT_DIR / "benchmarks" / "results" / f"whole_build_{args.preset}{suffix}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
