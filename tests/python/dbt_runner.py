"""Run the dbt project on a simulated world in an isolated warehouse (for integration tests).

Each warehouse gets its own DuckDB file, target folder and marts folder, so tests can build
several side by side without touching the developer's ``warehouse/``.
"""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import yaml

PROJECT_DIR = Path(__file__).resolve().parents[2]
BIN_DIR = Path(sys.executable).parent
# The tiny world has a 6-day main window: 4 / 1 / 1 days of train / validation / test.
# The tiny world has 4 training days: a day is monitored once its reference holds 2.
# feature_batch_rows: the tiny world's ~37k impressions build their features in four day
# batches, so every test of the tiny build runs the batched path of the large worlds.
TINY_VARS = {"split_train_days": 4, "split_validation_days": 1, "split_test_days": 1,
             "monitoring_min_reference_days": 2, "feature_batch_rows": 10_000}


@dataclass
class Warehouse:
    root: Path
    raw_path: Path
    extra_vars: dict | None = None
    project_dir: Path = PROJECT_DIR  # another folder: a modified copy of the project

    @property
    def database(self) -> Path:
        return self.root / "receval.duckdb"

    @property
    def marts_path(self) -> Path:
        return self.root / "marts"

    def dbt(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run a dbt command against this warehouse; raise with dbt's output on failure."""
        self.marts_path.mkdir(parents=True, exist_ok=True)
        dbt_vars = {"raw_path": str(self.raw_path), "marts_path": str(self.marts_path),
                    "model_store_path": str(self.root / "models")}
        dbt_vars.update(self.extra_vars or {})
        env = dict(
            os.environ,
            RECEVAL_DUCKDB_PATH=str(self.database),
            RECEVAL_TEMP_DIR=str(self.root / "tmp"),
            RECEVAL_MEMORY_LIMIT="4GB",
            DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        )
        cmd = [
            str(BIN_DIR / "dbt"), "--no-use-colors", *args,
            "--profiles-dir", str(self.project_dir), "--project-dir", str(self.project_dir),
            "--target-path", str(self.root / "target"), "--log-path", str(self.root / "logs"),
            "--vars", yaml.safe_dump(dbt_vars, default_flow_style=True).strip(),
        ]
        result = subprocess.run(cmd, cwd=self.project_dir, env=env, capture_output=True, text=True)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed:\n{result.stdout[-8000:]}\n{result.stderr[-2000:]}")
        return result

    def query(self, sql: str):
        """Run SQL read-only against the built warehouse; returns a pandas DataFrame."""
        with duckdb.connect(str(self.database), read_only=True) as con:
            return con.sql(sql).df()

    def tables(self) -> list[str]:
        """Names of the tables (not views) dbt built in the main schema: the marts."""
        frame = self.query(
            "select table_name from information_schema.tables "
            "where table_schema = 'main' and table_type = 'BASE TABLE' order by 1"
        )
        return frame["table_name"].tolist()

    def snapshot(self) -> dict:
        """Every mart's rows in a canonical order, to compare two builds."""
        return {t: self.query(f"select * from main.{t} order by all") for t in self.tables()}
