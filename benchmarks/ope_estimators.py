"""Benchmark every off-policy estimator of receval.ope on synthetic logged impressions.

    .venv/bin/python benchmarks/ope_estimators.py            # 10M rounds / slots
    .venv/bin/python benchmarks/ope_estimators.py --n 1000000 --repeats 3

Data: a seeded synthetic contextual bandit (receval.ope.synthetic.make_bandit; 5 actions,
epsilon-softmax logging) with n logged rounds, and a ranking log
(make_ranking; 8 candidates, 4 positions) with n slots (n/4 lists). Each estimator's
``estimate_policy_value`` (input validation included, analytic interval, no bootstrap)
is run ``--repeats`` times: the median wall time is reported, and the peak memory that
the call allocated on top of its inputs (tracemalloc, which numpy reports to), plus the
process's peak RSS at the end. Results are printed and written to
benchmarks/results/ope_estimators.json. The seeded bootstrap is timed separately on a
1M-round slice (``--bootstrap-n``, 200 replicates).
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import time
import tracemalloc
from pathlib import Path

import numpy as np

from receval import ope
from receval.ope.synthetic import make_bandit, make_ranking

OUT = Path(__file__).resolve().parent / "results" / "ope_estimators.json"


def measure(fn, repeats: int) -> dict:
    times, peaks = [], []
    for _ in range(repeats):
        tracemalloc.start()
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        t0 = time.perf_counter()
        res = fn()
        times.append(time.perf_counter() - t0)
        peaks.append(tracemalloc.get_traced_memory()[1] - base)
        tracemalloc.stop()
    return {
        "median_s": statistics.median(times),
        "times_s": times,
        "peak_alloc_mib": max(peaks) / 2**20,
        "estimate": res.estimate,
        "std_error": res.std_error,
        "n": res.n,
        "n_groups": res.n_groups,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000_000, help="logged rounds (and slots)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--bootstrap-n", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    t0 = time.perf_counter()
    b = make_bandit(args.n, random_state=args.seed)
    ql, qt = b.q_inputs(np.clip(b.q + 0.02, 0, 1))
    target_action = b.q.argmax(axis=1)[b.context]
    r = make_ranking(args.n // 4, random_state=args.seed)
    pl_pbm = ope.pbm_propensity(r.p_log_positions, r.examination)
    pt_pbm = ope.pbm_propensity(r.p_target_positions, r.examination)
    gen_s = time.perf_counter() - t0
    print(f"generated {args.n:,} rounds and {r.click.size:,} slots in {gen_s:.1f}s")

    cases = {
        "ips": lambda: ope.IPS().estimate_policy_value(b.reward, b.p_log, b.p_target),
        "clipped_ips": lambda: ope.IPS(clip=10).estimate_policy_value(b.reward, b.p_log, b.p_target),
        "snips": lambda: ope.SNIPS().estimate_policy_value(b.reward, b.p_log, b.p_target),
        "replay": lambda: ope.Replay().estimate_policy_value(b.reward, logged_action=b.action, target_action=target_action),
        "dm": lambda: ope.DirectMethod().estimate_policy_value(q_hat_target=qt),
        "dr": lambda: ope.DoublyRobust().estimate_policy_value(b.reward, b.p_log, b.p_target, ql, qt),
        "sndr": lambda: ope.SNDR().estimate_policy_value(b.reward, b.p_log, b.p_target, ql, qt),
        "ips_clustered": lambda: ope.IPS().estimate_policy_value(
            b.reward, b.p_log, b.p_target, group_ids=b.context
        ),
        "item_position_ips": lambda: ope.ItemPositionIPS().estimate_policy_value(
            r.click, r.p_log, r.p_target, group_ids=r.list_id
        ),
        "pbm_ips": lambda: ope.PositionBasedIPS().estimate_policy_value(
            r.click, pl_pbm, pt_pbm, group_ids=r.list_id
        ),
    }
    results = {}
    for name, fn in cases.items():
        results[name] = m = measure(fn, args.repeats)
        rate = m["n"] / m["median_s"] / 1e6
        print(
            f"{name:>18}: median {m['median_s']:.3f}s ({rate:,.0f}M rows/s), "
            f"peak alloc {m['peak_alloc_mib']:.0f} MiB, estimate {m['estimate']:.5f} +- {m['std_error']:.5f}"
        )
    nb = min(args.bootstrap_n, args.n)
    boot = measure(
        lambda: ope.SNIPS(n_bootstrap=200, random_state=1).estimate_policy_value(
            b.reward[:nb], b.p_log[:nb], b.p_target[:nb]
        ),
        1,
    )
    print(f"snips + 200 bootstrap replicates on {nb:,} rounds: {boot['median_s']:.2f}s, "
          f"peak alloc {boot['peak_alloc_mib']:.0f} MiB")
    payload = {
        "n_rounds": args.n,
        "n_slots": int(r.click.size),
        "n_lists": int(args.n // 4),
        "repeats": args.repeats,
        "seed": args.seed,
        "true_value_bandit": b.true_value,
        "true_value_ranking": r.true_value,
        "generate_s": gen_s,
        "estimators": results,
        "snips_bootstrap_200": {"n_rounds": nb, **boot},
        "max_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "note": "shared 2-core machine; other processes were running concurrently",
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(payload, indent=2))
    print(f"max RSS {payload['max_rss_gib']:.2f} GiB; wrote {OUT}")


if __name__ == "__main__":
    main()
