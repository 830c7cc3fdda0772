"""Error rates of the pipeline as a user runs it, over many simulated worlds.

    python benchmarks/calibration_worlds.py --worlds 200 [--family experiments|ope] [--first-seed 1000] [--preset tiny] [--items N] [--jobs 2]

Per world (seed first-seed + i): the preset simulated, then `dbt build` of one family's
marts and what they depend on (models and seeds, no tests) in a fresh warehouse and model
store, read against the world's truth by the family's module:
- `experiments` (benchmarks/calibration_experiments.py): `+rpt_experiment_scorecard
  +fct_aa_calibration`; A/A false-positive rates of every p-value and of the scorecard's
  decision, coverage of every interval of a true effect, fct_aa_calibration's rates;
- `ope` (benchmarks/calibration_ope.py): `+fct_policy_value_estimates` with the
  popularity model as the only candidate; coverage of each estimator's interval of every
  target policy's value.
`--jobs` worlds are built at once, each job in a folder of its own
(warehouse/calibration_<preset>[_items<N>]_<family>/job<k>: its world, warehouse and dbt target, the
same paths and vars from one world to the next, so dbt's partial parse is kept), DuckDB on
one thread. Each rate comes with its binomial standard error. One record per world is
appended to benchmarks/results/calibration_worlds_<preset>[_items<N>]_<family>.jsonl as it
is measured (a run can be resumed: seeds already there are skipped); the summary is printed
and written to the .json of the same name.
"""
from __future__ import annotations

import argparse
import importlib
import json
import multiprocessing
import shutil
import subprocess
import sys
import time
from pathlib import Path

from dbt_build import PROJECT_DIR, dbt_command

sys.path.insert(0, str(PROJECT_DIR / "tests" / "python"))
from dbt_runner import TINY_VARS  # noqa: E402  (the tiny world's split and monitoring vars)

FAMILIES = ("experiments", "ope")


def build_world(seed: int, preset: str, overrides: dict, root: Path, family) -> float:
    """Simulate the world of seed into root/world and build the family in a fresh warehouse
    and model store (the same paths and vars every world, so dbt's partial parse is kept;
    no model of another world to warm-start from)."""
    from receval.simulate import get_preset, simulate

    started = time.perf_counter()
    simulate(get_preset(preset, **overrides), seed, root / "world")
    for stale in ("receval.duckdb", "receval.duckdb.wal"):
        (root / stale).unlink(missing_ok=True)
    for stale in ("marts", "models"):
        shutil.rmtree(root / stale, ignore_errors=True)
    cmd, env = dbt_command(root, root / "world" / "raw", "build", "--select", *family.SELECT,
                           "--exclude-resource-type", "test", "unit_test",
                           extra_vars=(TINY_VARS if preset == "tiny" else {}) | family.VARS)
    env["RECEVAL_DUCKDB_THREADS"] = "1"   # the jobs share the cores
    done = subprocess.run(cmd, env=env, cwd=PROJECT_DIR, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"seed {seed}: dbt build failed:\n{done.stdout[-6000:]}{done.stderr[-2000:]}")
    return time.perf_counter() - started


#: each job process's own warehouse folder (set once per process by _start_job)
JOB: dict = {}


def _start_job(counter, base: Path, preset: str, overrides: dict, family: str) -> None:
    with counter.get_lock():
        JOB.update(root=base / f"job{counter.value}", preset=preset, overrides=overrides,
                   family=importlib.import_module(family))
        counter.value += 1
    JOB["root"].mkdir(parents=True, exist_ok=True)


def _measure(seed: int) -> dict:
    seconds = build_world(seed, JOB["preset"], JOB["overrides"], JOB["root"], JOB["family"])
    record = JOB["family"].record(seed, JOB["root"], JOB["root"] / "world" / "truth")
    return dict(record, seconds=round(seconds, 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worlds", type=int, default=200)
    parser.add_argument("--family", default="experiments", choices=FAMILIES)
    parser.add_argument("--first-seed", type=int, default=1000)
    parser.add_argument("--preset", default="tiny", choices=["tiny", "default"])
    parser.add_argument("--items", type=int, help="catalogue size instead of the preset's (tiny: 200, which users "
                        "re-click, so purchases move between clicks: docs/benchmarks.md, delayed feedback)")
    parser.add_argument("--jobs", type=int, default=2, help="worlds built at once (default 2: one per core)")
    args = parser.parse_args()

    family = importlib.import_module(f"calibration_{args.family}")
    overrides = {"n_items": args.items} if args.items else {}
    label = f"{args.preset}{f'_items{args.items}' if args.items else ''}_{args.family}"
    name = f"calibration_worlds_{label}"
    results = PROJECT_DIR / "benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    log = results / f"{name}.jsonl"
    records = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    seeds = range(args.first_seed, args.first_seed + args.worlds)
    todo = [seed for seed in seeds if seed not in {r["seed"] for r in records}]
    started = time.perf_counter()
    counter = multiprocessing.Value("i", 0)
    with multiprocessing.Pool(args.jobs, _start_job, (counter, PROJECT_DIR / "warehouse" / f"calibration_{label}",
                                                      args.preset, overrides, family.__name__)) as pool:
        for record in pool.imap_unordered(_measure, todo):
            records.append(record)
            with log.open("a") as f:
                f.write(json.dumps(record) + "\n")
            print(f"seed {record['seed']}: {record['seconds']} s", flush=True)
    chosen = [r for r in records if r["seed"] in seeds]
    out = {"preset": args.preset, **overrides, "family": args.family, "first_seed": args.first_seed, "jobs": args.jobs,
           **family.summary(chosen), "median_world_s": sorted(r["seconds"] for r in chosen)[len(chosen) // 2],
           "this_run_wall_s": round(time.perf_counter() - started, 1)}
    (results / f"{name}.json").write_text(json.dumps(out, indent=2))
    print(family.markdown(out))


if __name__ == "__main__":
    main()
