"""Benchmark of receval.monitoring.drift_table on a synthetic frame of raw rows.

    .venv/bin/python benchmarks/monitoring_drift.py                   # 2.6M rows, as in docs/monitoring.md
    .venv/bin/python benchmarks/monitoring_drift.py --rows 200000 --repeats 3

Data (seeded): ``--rows`` rows with a ``day`` (uniform over ``--days``) and a ``segment``
(uniform over ``--segments``), ``--numeric`` standard-normal features with 1% missing
values and ``--categorical`` features of ``--levels`` uniform levels; no drift. The
reference is the rows of days 1-7. ``drift_table`` is timed ``--repeats`` times (median
wall time reported) with ``by=["day", "segment"]`` in two forms: a reference per segment
(``reference_by=["segment"]``) and one reference for every group. Results are printed
and written to benchmarks/results/monitoring_drift.json.

Timings depend on the machine and on whatever else runs on it; the JSON records the
CPU count and the load average at start and end.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from receval.monitoring import drift_table

OUT = Path(__file__).resolve().parent / "results" / "monitoring_drift.json"
REFERENCE_LAST_DAY = 7


def make_frame(rows: int, days: int, segments: int, numeric: int, categorical: int, levels: int,
               seed: int) -> tuple[pa.Table, dict[str, str]]:
    """The synthetic current frame and its features' kinds."""
    rng = np.random.default_rng(seed)
    cols = {"day": rng.integers(1, days + 1, rows).astype(np.int32),
            "segment": rng.choice(np.array([chr(ord("a") + s) for s in range(segments)]), rows)}
    features = {}
    for j in range(numeric):
        x = rng.normal(size=rows)
        x[rng.random(rows) < 0.01] = np.nan
        cols[f"x{j}"] = x
        features[f"x{j}"] = "numeric"
    for j in range(categorical):
        cols[f"c{j}"] = rng.choice(np.array([f"v{k}" for k in range(levels)]), rows)
        features[f"c{j}"] = "categorical"
    return pa.table(cols), features


def measure(fn, repeats: int) -> dict:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return {"median_s": round(statistics.median(times), 3), "times_s": [round(t, 3) for t in times],
            "output_rows": out.num_rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2_600_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--segments", type=int, default=3)
    ap.add_argument("--numeric", type=int, default=16, help="numeric features (1%% missing)")
    ap.add_argument("--categorical", type=int, default=4, help="categorical features")
    ap.add_argument("--levels", type=int, default=20, help="levels of each categorical feature")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    load_start = os.getloadavg()

    t0 = time.perf_counter()
    cur, features = make_frame(args.rows, args.days, args.segments, args.numeric, args.categorical,
                               args.levels, args.seed)
    ref = cur.filter(pc.less_equal(cur["day"], REFERENCE_LAST_DAY))
    gen_s = time.perf_counter() - t0
    print(f"generated {cur.num_rows:,} rows x {len(features)} features, reference {ref.num_rows:,} rows "
          f"(days 1-{REFERENCE_LAST_DAY}), in {gen_s:.1f}s")

    cases = {
        "reference_by_segment": lambda: drift_table(ref, cur, features, by=["day", "segment"],
                                                    reference_by=["segment"]),
        "one_reference": lambda: drift_table(ref, cur, features, by=["day", "segment"]),
    }
    results = {}
    for name, fn in cases.items():
        results[name] = m = measure(fn, args.repeats)
        print(f"{name:>22}: median {m['median_s']:.2f}s ({m['output_rows']:,} output rows)")

    payload = {
        "rows": cur.num_rows,
        "reference_rows": ref.num_rows,
        "reference_days": [1, REFERENCE_LAST_DAY],
        "days": args.days,
        "segments": args.segments,
        "numeric_features": args.numeric,
        "categorical_features": args.categorical,
        "levels": args.levels,
        "repeats": args.repeats,
        "seed": args.seed,
        "generate_s": round(gen_s, 3),
        "drift_table": results,
        "cpu_count": os.cpu_count(),
        "load_avg_start": load_start,
        "load_avg_end": os.getloadavg(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pyarrow": pa.__version__,
        "machine": platform.machine(),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(payload, indent=2))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
