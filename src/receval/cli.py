"""The ``receval`` command line (entry point ``receval = receval.cli:main``)."""
from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def _simulate(args: argparse.Namespace) -> int:
    from receval.simulate import get_preset, simulate

    cfg = get_preset(args.preset)
    if args.bad_rate is not None:
        cfg = replace(cfg, bad_rate=args.bad_rate)
    if args.no_delayed_feedback:
        cfg = replace(cfg, delayed_feedback=False)
    if args.no_drift:
        cfg = replace(cfg, drift_logit_shift=0.0)
    if args.no_skew:
        cfg = replace(cfg, skew_factor=1.0)
    console = Console(stderr=True)
    started = time.perf_counter()
    with Progress(TextColumn("[bold]simulate[/] {task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=False) as progress:
        task = progress.add_task(f"{cfg.preset} seed={args.seed}", total=cfg.n_days)
        world = simulate(cfg, args.seed, args.out, on_day=lambda _day: progress.advance(task), until=args.until)
    raw = world["rows"].get("raw_landed", world["rows"]["raw"])
    console.print(f"wrote {args.out}/raw and {args.out}/truth in {time.perf_counter() - started:.1f}s: "
                  + ", ".join(f"{k}={v:,}" for k, v in raw.items()))
    return 0


def _serve_bench(args: argparse.Namespace) -> int:
    import json
    import os

    # OpenMP threads that spin while idle steal the shared cores from the other stage
    # (torch ranking vs the shadow's XGBoost); must be set before the runtime starts.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from receval.serving.bench import serve_bench

    report = serve_bench(args.store, args.marts, args.out, n_requests=args.n_requests, budget_ms=args.budget_ms,
                         model_id=args.model, shadow_model_id=args.shadow, ef_search=args.ef_search, seed=args.seed)
    print(json.dumps(report, indent=2, default=str))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="receval", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sim = sub.add_parser("simulate", help="generate a seeded raw landing zone and its ground truth")
    sim.add_argument("--preset", choices=("tiny", "default", "large"), default="default")
    sim.add_argument("--seed", type=int, default=42)
    sim.add_argument("--out", required=True, help="output folder; its raw/ and truth/ are replaced")
    sim.add_argument("--bad-rate", type=float, default=None,
                     help="share of bad rows per fact entity (default: the preset's)")
    sim.add_argument("--no-delayed-feedback", action="store_true",
                     help="every click within a minute of its impression and every purchase a second "
                          "after its click (a world a delay correction must leave unchanged)")
    sim.add_argument("--no-drift", action="store_true",
                     help="no injected drift (the drift category's appeal stays as it was)")
    sim.add_argument("--no-skew", action="store_true",
                     help="no injected training/serving skew (the skew feature is served as logged)")
    sim.add_argument("--until", default=None, metavar="YYYY-MM-DD",
                     help="land only the partitions that arrived by this day (the same world, seen "
                          "earlier: a later --until lands the next days of it)")
    sim.set_defaults(handler=_simulate)
    bench = sub.add_parser("serve-bench", help="replay requests through the serving path; write its logs and "
                                               "a latency report")
    bench.add_argument("--store", type=Path, required=True, help="model store (<store>/<model_id>/<version>/)")
    bench.add_argument("--marts", type=Path, required=True,
                       help="a built warehouse's marts Parquet folder (snapshot marts, dim_items, dim_users, "
                            "fct_impression_labels)")
    bench.add_argument("--out", type=Path, default=None,
                       help="writes <out>/raw/<entity>/date=.../hour=.../*.parquet and <out>/latency_report.json")
    bench.add_argument("--n-requests", type=int, default=1000)
    bench.add_argument("--budget-ms", type=float, default=100.0, help="end-to-end budget before the fallback")
    bench.add_argument("--model", default="mmoe", help="the serving MMoE's model_id")
    bench.add_argument("--shadow", default=None, metavar="MODEL_ID", help="challenger scored off the critical path")
    bench.add_argument("--ef-search", type=int, default=1500, help="HNSW search beam width")
    bench.add_argument("--seed", type=int, default=0)
    bench.set_defaults(handler=_serve_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    raise SystemExit(main())
