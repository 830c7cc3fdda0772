"""Shared fixtures: one tiny simulated world per test session (a couple of seconds), and
one `dbt build` of the whole project on it (about a minute) that integration tests query."""
from __future__ import annotations

import os
import platform
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from dbt_runner import TINY_VARS, Warehouse
from receval.simulate import get_preset, simulate

# One code path for torch's CPU kernels, so the tiny world's candidates train to the same floats
# on the x86-64 machines CI has run on and the golden digest (test_dbt_marts_unchanged) holds
# there (not on an AMD EPYC with AVX-512, whatever these settings: docs/candidate_models.md):
# MKL's GEMM otherwise picks a path per CPU (AVX-512 on one, AVX2 on another, and on AMD
# only AUTO or COMPATIBLE are fixed branches), and ATen its vector width. Set before any test
# imports torch (both are read at the first kernel); the dbt subprocess inherits them. A value
# already in the environment wins. Builds outside the tests keep the CPU's fastest paths
# (COMPATIBLE's GEMM is about 2.3x slower; docs/candidate_models.md).
REPRODUCIBLE_KERNELS = {"MKL_CBWR": "COMPATIBLE", "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
_CPUINFO = Path("/proc/cpuinfo")
if platform.machine().lower() in ("x86_64", "amd64") and _CPUINFO.exists() and "avx2" in _CPUINFO.read_text().split():
    for _name, _value in REPRODUCIBLE_KERNELS.items():
        os.environ.setdefault(_name, _value)

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
