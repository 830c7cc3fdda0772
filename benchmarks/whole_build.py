"""Benchmark the whole default `dbt build` on a fresh warehouse: what a newcomer waits for.

    python benchmarks/whole_build.py --preset default [--repeats 3] [--rebuild]
                                     [--baseline COMMIT --baseline-repeats 1] [--incremental]
    python benchmarks/whole_build.py --preset large --threads 1 --kill-above-gib 19

Simulates the world if it is not on disk, then per repeat, in a fresh warehouse and model
store: `dbt build` of everything, its wall time and peak RSS, the node counts by status and
the slowest nodes from target/run_results.json, and per family (staging, labels, features,
counterfactual, ...) its models' and tests' node seconds and the peak RSS of the dbt process
tree (sampled each second) while its nodes ran. With --rebuild, a second `dbt build` in the
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
from datetime import date, datetime, timedelta
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


def measure(project: Path, warehouse: Path, raw: Path, rebuild: bool, top: int, **build_args) -> dict:
    """One cold build in a fresh warehouse (and, with rebuild, a second build in it)."""
    shutil.rmtree(warehouse, ignore_errors=True)
    run = build(warehouse, raw, top, project, **build_args)
    if rebuild:
        run["rebuild"] = build(warehouse, raw, top, project, **build_args)
    return run


def build(warehouse: Path, raw: Path, top: int, project: Path = PROJECT_DIR, dbt_args: tuple = (),
          kill_above_gib: float | None = None) -> dict:
    """`dbt build` of project in warehouse (as it is): its commit, wall, peak RSS, slowest
    nodes, and the time and peak RSS of each family. dbt's output goes to
    warehouse/build.log as it runs."""
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=project, capture_output=True,
                            text=True).stdout.strip()
    cmd, env = dbt_command(warehouse, raw, "build", *dbt_args, project=project)
    env["PYTHONPATH"] = str(project / "src")  # the checkout's own package, not the installed one
    samples: list = []
    wall, peak = run_measured(cmd, env, cwd=project, log=warehouse / "build.log", samples=samples,
                              kill_above_gib=kill_above_gib)
    slowest, statuses = slowest_nodes(warehouse, top)
    return {"commit": commit, "wall_s": round(wall, 1), "peak_rss_gib": round(peak, 2),
            "peak_tree_rss_gib": max((gib for _, gib in samples), default=None), "statuses": statuses,
            "slowest": slowest, "families": families(warehouse, samples)}


def families(warehouse: Path, samples: list) -> dict:
    """Per family (the folder a node's file sits in: staging, labels, features, counterfactual,
    ...; a test goes with the node it tests): node seconds of its models and of its tests,
    and the highest RSS of the dbt process tree sampled while one of its nodes ran."""
    target = warehouse / "target"
    manifest = json.loads((target / "manifest.json").read_text())
    nodes = {**manifest["nodes"], **manifest.get("unit_tests", {})}

    def family(uid: str) -> str:
        node = nodes.get(uid, {})
        if node.get("resource_type") in ("test", "unit_test"):
            tested = node.get("attached_node") or next(iter(node.get("depends_on", {}).get("nodes", [])), "")
            return family(tested) if tested in nodes else "other"
        folders = [f for f in Path(node.get("original_file_path", "other")).parent.parts
                   if f not in ("models", "python_models", "intermediate", "marts")]
        return folders[0] if folders else "other"

    out: dict[str, dict] = {}
    for r in json.loads((target / "run_results.json").read_text())["results"]:
        entry = out.setdefault(family(r["unique_id"]), {"models_s": 0.0, "tests_s": 0.0, "peak_rss_gib": 0.0})
        is_test = r["unique_id"].startswith(("test.", "unit_test."))
        entry["tests_s" if is_test else "models_s"] += r["execution_time"]
        spans = [(datetime.fromisoformat(t["started_at"].replace("Z", "+00:00")).timestamp(),
                  datetime.fromisoformat(t["completed_at"].replace("Z", "+00:00")).timestamp())
                 for t in r.get("timing", []) if t.get("name") == "execute" and t.get("started_at")]
        for start, end in spans:
            entry["peak_rss_gib"] = max([entry["peak_rss_gib"], *(gib for t, gib in samples if start <= t <= end + 1)])
    return {name: {k: round(v, 1 if k.endswith("_s") else 2) for k, v in e.items()}
            for name, e in sorted(out.items(), key=lambda kv: -kv[1]["models_s"])}


def daily(preset: str, seed: int, end: str, top: int, **build_args) -> dict:
    """Cold build of the world without its last day, then that day landed and built."""
    world = PROJECT_DIR / "data" / f"{preset}_daily"
    warehouse = PROJECT_DIR / "warehouse" / f"whole_{preset}_daily"
    shutil.rmtree(warehouse, ignore_errors=True)
    simulate(preset, seed, world, until=(date.fromisoformat(end) - timedelta(days=1)).isoformat())
    cold = build(warehouse, world / "raw", top, **build_args)
    simulate(preset, seed, world, until=end)
    return {"cold_without_last_day": cold, "incremental_day": build(warehouse, world / "raw", top, **build_args)}


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
    parser.add_argument("--threads", type=int, help="dbt's threads (default: the profile's, 2)")
    parser.add_argument("--kill-above-gib", type=float, help="kill a build whose process tree passes this RSS")
    args = parser.parse_args()
    build_args = {"dbt_args": ("--threads", str(args.threads)) if args.threads else (),
                  "kill_above_gib": args.kill_above_gib}

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
                runs[name].append(measure(project, warehouse, world / "raw", args.rebuild, args.top, **build_args))
                print(name, json.dumps(runs[name][-1]), flush=True)
    result = {"preset": args.preset, "seed": args.seed, "cpus": os.cpu_count(),
              "versions": {name: {"runs": r, **summary(r)} for name, r in runs.items() if r}}
    if args.baseline and args.repeats and result["versions"].get(args.baseline):
        base, now = (result["versions"][k]["median_wall_s"] for k in (args.baseline, "this checkout"))
        result["speedup_cold"] = round(base / now, 2)
    if args.incremental:
        end = json.loads((world / "truth" / "world.json").read_text())["dates"]["end"]
        result["daily"] = daily(args.preset, args.seed, end, args.top, **build_args)
    # a daily-only run (--repeats 0) does not overwrite the cold runs' results
    suffix = "_daily" if not any(runs.values()) else ""
    out = PROJECT_DIR / "benchmarks" / "results" / f"whole_build_{args.preset}{suffix}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
