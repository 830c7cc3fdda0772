"""Benchmark `dbt build` and the staging + labels layer on a simulated world.

    python benchmarks/dbt_build.py --preset default
    python benchmarks/dbt_build.py --preset large --build-select "+fct_impression_labels ..."

Simulates the world if it is not on disk yet, then, each in a fresh DuckDB warehouse:
1. `dbt build` of the whole project, or of --build-select (wall time and peak memory of
   the dbt process);
2. `dbt build --select +fct_impression_labels` without tests, repeated: the staging +
   labels layer. Its time is the sum of the models' execution times from run_results.json
   (dbt's own start-up and parsing, a few seconds, is reported apart as the wall time);
   impressions per second is the labelled impressions over the median of that sum.
Results are printed and written as JSON to benchmarks/results/dbt_build_<preset>.json.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb

PROJECT_DIR = Path(__file__).resolve().parents[1]
BIN_DIR = Path(sys.executable).parent


def run_measured(cmd: list[str], env: dict, cwd: Path = PROJECT_DIR, *, log: Path | None = None,
                 samples: list | None = None, kill_above_gib: float | None = None) -> tuple[float, float]:
    """Run cmd in cwd to completion; return (wall seconds, peak RSS in GiB) of that process
    tree's largest process. Raises with the output if it fails.

    log: where its output goes as it runs (else it is kept for the error). samples: a list
    to append (unix time, RSS of the whole tree in GiB) to once a second. kill_above_gib:
    kill the tree when its RSS passes that (a 24 GiB machine is not to be pushed into swap).
    """
    start = time.perf_counter()
    out = open(log, "wb") if log else subprocess.PIPE
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    done = threading.Event()
    if samples is not None or kill_above_gib:
        threading.Thread(target=_watch, args=(proc.pid, done, samples, kill_above_gib), daemon=True).start()
    output = None if log else proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    done.set()
    wall = time.perf_counter() - start
    if log:
        out.close()
    if os.waitstatus_to_exitcode(status) != 0:
        output = log.read_bytes() if log else output
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{output.decode()[-5000:]}")
    return wall, usage.ru_maxrss / 2**20


def tree_rss_gib(pid: int) -> float:
    """The summed RSS of pid and every process below it."""
    parents, rss = {}, {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                parents[int(entry)], rss[int(entry)] = int(fields[1]), int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
            except OSError:
                continue
    tree, frontier = {pid}, [pid]
    while frontier:
        frontier = [p for p, parent in parents.items() if parent in frontier and p not in tree]
        tree.update(frontier)
    return sum(rss.get(p, 0) for p in tree) / 2**30


def _watch(pid: int, done: threading.Event, samples: list | None, kill_above_gib: float | None) -> None:
    while not done.wait(1.0):
        gib = tree_rss_gib(pid)
        if samples is not None:
            samples.append((time.time(), round(gib, 3)))
        if kill_above_gib and gib > kill_above_gib:
            os.killpg(pid, signal.SIGKILL)
            return


def simulate(preset: str, seed: int, out: Path, until: str | None = None) -> tuple[float, float]:
    """`receval simulate` into out (only the days up to until, if given); (wall s, peak GiB)."""
    return run_measured([str(BIN_DIR / "receval"), "simulate", "--preset", preset, "--seed", str(seed),
                         "--out", str(out), *(["--until", until] if until else [])], dict(os.environ))


def dbt_command(warehouse: Path, raw_path: Path, *args: str, extra_vars: dict | None = None,
                project: Path = PROJECT_DIR) -> tuple[list[str], dict]:
    env = dict(
        os.environ,
        RECEVAL_DUCKDB_PATH=str(warehouse / "receval.duckdb"),
        RECEVAL_TEMP_DIR=str(warehouse / "tmp"),
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
    )
    (warehouse / "marts").mkdir(parents=True, exist_ok=True)
    dbt_vars = json.dumps({"raw_path": str(raw_path), "marts_path": str(warehouse / "marts"),
                           "model_store_path": str(warehouse / "models"), **(extra_vars or {})})
    cmd = [str(BIN_DIR / "dbt"), "--no-use-colors", *args, "--profiles-dir", str(project),
           "--target-path", str(warehouse / "target"), "--log-path", str(warehouse / "logs"),
           "--vars", dbt_vars]
    return cmd, env


def models_seconds(warehouse: Path) -> float:
    """Summed execution time of the models (and seeds) of the last dbt invocation."""
    results = json.loads((warehouse / "target" / "run_results.json").read_text())
    return sum(r["execution_time"] for r in results["results"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default", choices=["tiny", "default", "large"])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--data-dir", type=Path, help="world folder (default data/<preset>)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--build-select", help="dbt --select for step 1 (default: everything)")
    args = parser.parse_args()

    world = args.data_dir or PROJECT_DIR / "data" / args.preset
    result: dict = {"preset": args.preset, "seed": args.seed, "cpus": os.cpu_count()}
    if not (world / "truth" / "world.json").exists():
        wall, peak = simulate(args.preset, args.seed, world)
        result["simulate"] = {"wall_s": round(wall, 1), "peak_rss_gib": round(peak, 2)}
    raw = world / "raw"

    scratch = PROJECT_DIR / "warehouse" / f"bench_{args.preset}"
    shutil.rmtree(scratch, ignore_errors=True)
    select = ["--select", *args.build_select.split()] if args.build_select else []
    wall, peak = run_measured(*dbt_command(scratch / "build", raw, "build", *select))
    result["dbt_build"] = {"select": args.build_select or "everything", "wall_s": round(wall, 1),
                           "peak_rss_gib": round(peak, 2)}
    with duckdb.connect(str(scratch / "build" / "receval.duckdb"), read_only=True) as con:
        impressions = con.sql("select count(*) from fct_impression_labels").fetchall()[0][0]
    result["impressions"] = impressions

    layer_s, layer_wall, layer_peak = [], [], []
    for _ in range(args.repeats):
        warehouse = scratch / "layer"
        shutil.rmtree(warehouse, ignore_errors=True)
        wall, peak = run_measured(*dbt_command(warehouse, raw, "build", "--select", "+fct_impression_labels",
                                               "--exclude-resource-type", "test", "unit_test"))
        layer_s.append(models_seconds(warehouse))
        layer_wall.append(wall)
        layer_peak.append(peak)
    median = statistics.median(layer_s)
    result["staging_plus_labels"] = {
        "models_s": [round(s, 2) for s in layer_s],
        "median_s": round(median, 2),
        "median_wall_s": round(statistics.median(layer_wall), 2),
        "impressions_per_s": round(impressions / median),
        "peak_rss_gib": round(max(layer_peak), 2),
    }
    out = PROJECT_DIR / "benchmarks" / "results" / f"dbt_build_{args.preset}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    shutil.rmtree(scratch / "layer", ignore_errors=True)
    print(f"the step-1 warehouse is kept for inspection: {scratch / 'build'}")


if __name__ == "__main__":
    main()
