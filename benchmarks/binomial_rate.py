"""A rate over replications (worlds, draws) with its binomial standard error."""
from __future__ import annotations

import math


def rate(flags: list[bool]) -> dict:
    """Share of True with its binomial standard error."""
    n = len(flags)
    p = sum(flags) / n if n else math.nan
    return {"rate": round(p, 4), "se": round(math.sqrt(p * (1 - p) / n), 4) if n else None, "n": n}


def cell(r: dict) -> str:
    """A rate as a markdown table cell: rate (standard error)."""
    return f"{r['rate']:.3f} ({r['se']:.3f})"
