"""Shared fixtures: one tiny simulated world per test session (a couple of seconds), and
one `dbt build` of the whole project on it (about a minute) that integration tests query."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from dbt_runner import TINY_VARS, Warehouse
from receval.simulate import get_preset, simulate

SEED = 7
#: the cut world's last landed day; the world goes on for 8 more (its truth holds them)
CUT = "2026-09-08"


@pytest.fixture(scope="session")
def tiny_cfg():
    return get_preset("tiny")


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory, tiny_cfg) -> Path:
    """A tiny world written to a temporary folder; returns the folder."""
    out = tmp_path_factory.mktemp("tiny")
    simulate(tiny_cfg, SEED, out)
    return out


@pytest.fixture(scope="session")
def tiny_warehouse(tiny_world, tmp_path_factory) -> Warehouse:
    """The whole project built (`dbt build`) on the tiny world, every test passing."""
    warehouse = Warehouse(tmp_path_factory.mktemp("warehouse"), tiny_world / "raw", TINY_VARS)
    warehouse.dbt("build")
    return warehouse


@pytest.fixture(scope="session")
def cut_world(tmp_path_factory):
    """A tiny world of 16 days landed until its 8th (CUT), with every family that reports
    conversions built (delayed, offline, experiments, counterfactual): the warehouse sees
    the first 8 days, and the truth labels every click with the purchases of the 8 days
    after (its eventual label, once the attribution window has closed). Returns the
    warehouse and the truth's event_id, converted, revenue."""
    out = tmp_path_factory.mktemp("cut_world")
    simulate(get_preset("tiny", main_days=14), SEED, out, until=CUT)
    warehouse = Warehouse(out / "warehouse", out / "raw", TINY_VARS)
    warehouse.dbt("seed")
    warehouse.dbt("run", "--select", "+fct_cvr_by_day", "+fct_offline_metrics", "+fct_experiment_results",
                  "+fct_policy_value_estimates", "+fct_bandit_allocations", "+fct_interleaving_results")
    truth = pd.read_parquet(out / "truth" / "impressions.parquet", columns=["event_id", "converted", "revenue"])
    return warehouse, truth


def read_raw(out: Path, entity: str, skip: set[str] = frozenset()) -> pd.DataFrame:
    """All rows of one raw entity with the file (relative to raw/) each came from."""
    frames = []
    for path in sorted((out / "raw" / entity).glob("date=*/hour=*/*.parquet")):
        rel = path.relative_to(out / "raw").as_posix()
        if rel in skip:
            continue
        frame = pq.read_table(path).to_pandas()
        frame["file"] = rel
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
