"""The same dbt selection built on DuckDB and on Spark (`local[N]`), one after the other, on
one world: wall time and peak memory of each, and its slowest nodes.

    python benchmarks/engines.py --preset default
    python benchmarks/engines.py --preset large --seed 1 \\
        --select "+fct_impression_labels +stg_landing__row_counts +stg_landing__rejected_events"

Each engine builds the selection (default: every SQL model no Python model precedes, which
is what the `spark` target builds) without data or unit tests, in a fresh warehouse under
warehouse/engines_<preset>/. Spark then runs `base_landing__file_columns` again, the run a
daily build makes when no file has landed (the schemas of the files it has read are kept).
Peak RSS is the sum over the dbt process and its children (on Spark, the JVM it starts,
which exits unreaped and so escapes the kernel's own peak), sampled every half second.
Results are printed and written to benchmarks/results/engines_<preset>.json. Needs the
`spark` extra and Java 17.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

from dbt_build import PROJECT_DIR, dbt_command, simulate

SQL_LAYER = "--exclude path:python_models+"


def tree_rss(root: int) -> int:
    """Resident bytes of the process root and all its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            rss[int(entry.name)] = int((entry / "statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError):   # gone meanwhile
            continue
        parent = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def run_sampled(cmd: list[str], env: dict) -> tuple[float, float]:
    """Run cmd to completion; (wall seconds, peak GiB of its process tree's summed RSS)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=PROJECT_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    peak = [0]

    def sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_rss(proc.pid))
            time.sleep(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output = proc.stdout.read()
    proc.wait()
    sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{output.decode()[-5000:]}")
    return time.perf_counter() - start, peak[0] / 2**30


def slowest(warehouse: Path, count: int = 10) -> dict[str, float]:
    """The count slowest nodes of the warehouse's last dbt invocation: name -> seconds."""
    results = json.loads((warehouse / "target" / "run_results.json").read_text())["results"]
    ranked = sorted(results, key=lambda r: -r["execution_time"])[:count]
    return {r["unique_id"].split(".")[-1]: round(r["execution_time"], 1) for r in ranked}


def build(warehouse: Path, raw: Path, target: str, *args: str) -> dict:
    cmd, env = dbt_command(warehouse, raw, *args, "--target", target)
    env["RECEVAL_SPARK_DIR"] = str(warehouse / "spark")
    wall, peak = run_sampled(cmd, env)
    return {"wall_s": round(wall, 1), "peak_rss_gib": round(peak, 2), "slowest_s": slowest(warehouse)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default", choices=["tiny", "default", "large"])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--data-dir", type=Path, help="world folder (default data/<preset>)")
    parser.add_argument("--select", help="dbt node selection (default: the SQL layer)")
    parser.add_argument("--engines", default="dev,spark", help="profile targets, in order")
    args = parser.parse_args()

    world = args.data_dir or PROJECT_DIR / "data" / args.preset
    if not (world / "truth" / "world.json").exists():
        simulate(args.preset, args.seed, world)
    selection = ["--select", *args.select.split()] if args.select else SQL_LAYER.split()
    without_tests = ["--exclude-resource-type", "test", "--exclude-resource-type", "unit_test"]
    result: dict = {"preset": args.preset, "seed": args.seed, "cpus": os.cpu_count(),
                    "selection": " ".join(selection)}
    scratch = PROJECT_DIR / "warehouse" / f"engines_{args.preset}"
    for target in args.engines.split(","):
        warehouse = scratch / target
        shutil.rmtree(warehouse, ignore_errors=True)
        result[target] = build(warehouse, world / "raw", target, "build", *selection, *without_tests)
        print(target, json.dumps(result[target]), flush=True)
        if target == "spark":
            result["spark_file_schemas_again"] = build(
                warehouse, world / "raw", target, "run", "--select", "base_landing__file_columns")
            print("spark, file schemas again", json.dumps(result["spark_file_schemas_again"]), flush=True)
    out = PROJECT_DIR / "benchmarks" / "results" / f"engines_{args.preset}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"-> {out}; the warehouses are kept in {scratch}")


if __name__ == "__main__":
    main()
