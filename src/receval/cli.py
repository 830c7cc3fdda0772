"""The ``receval`` command line (entry point ``receval = receval.cli:main``)."""
from __future__ import annotations

import argparse
import time
from dataclasses import replace

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def _simulate(args: argparse.Namespace) -> int:
    from receval.simulate import get_preset, simulate

    cfg = get_preset(args.preset)
    if args.bad_rate is not None:
        cfg = replace(cfg, bad_rate=args.bad_rate)
    console = Console(stderr=True)
    started = time.perf_counter()
    with Progress(TextColumn("[bold]simulate[/] {task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=False) as progress:
        task = progress.add_task(f"{cfg.preset} seed={args.seed}", total=cfg.n_days)
        world = simulate(cfg, args.seed, args.out, on_day=lambda _day: progress.advance(task))
    raw = world["rows"]["raw"]
    console.print(f"wrote {args.out}/raw and {args.out}/truth in {time.perf_counter() - started:.1f}s: "
                  + ", ".join(f"{k}={v:,}" for k, v in raw.items()))
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
    sim.set_defaults(handler=_simulate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    raise SystemExit(main())
