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
