"""Run the dbt project on a simulated world in an isolated warehouse (for integration tests).

Each warehouse gets its own DuckDB file, target folder and marts folder, so tests can build
several side by side without touching the developer's ``warehouse/``.

dbt runs in the warehouse's folder, with the database, landing zone, marts and model store
named by relative paths (``raw`` there links to the landing zone): warehouses with the same
extra vars then give dbt the same vars and connection, so one full parse (about 9 s of a
tiny build's ~60) serves them all. dbt's own partial parsing takes the saved manifest of the
first and checks it against the project's files, as on a developer's second run. Paths the
build records (artifact_path, source_file) are relative to that folder: see ``resolve``.
"""
from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
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


#: `dbt build` arguments that build every model and seed but run no data or unit test (for a
#: build that only makes tables for a comparison, when another build runs the tests)
WITHOUT_TESTS = ("--exclude-resource-type", "test", "--exclude-resource-type", "unit_test")
#: the landing zone, marts and model store as every warehouse names them (its own folder)
PATH_VARS = {"raw_path": "raw", "marts_path": "marts", "model_store_path": "models"}
#: a parsed manifest (dbt's partial_parse.msgpack) per (project folder, vars)
_PARSED: dict[tuple[str, str], Path] = {}
_PARSED_DIR = Path(tempfile.mkdtemp(prefix="receval-dbt-parse-"))
atexit.register(shutil.rmtree, _PARSED_DIR, ignore_errors=True)


@dataclass
class Warehouse:
    root: Path
    raw_path: Path
    extra_vars: dict | None = None
    project_dir: Path = PROJECT_DIR  # another folder: a modified copy of the project
    target: str | None = None  # a profiles.yml target other than the default (DuckDB): "spark"

    @property
    def database(self) -> Path:
        return self.root / "receval.duckdb"

    @property
    def marts_path(self) -> Path:
        return self.root / PATH_VARS["marts_path"]

    def resolve(self, recorded: str) -> Path:
        """A path the build recorded (an artifact_path, a source_file): relative to the
        warehouse's folder, where dbt ran."""
        return self.root / recorded

    def dbt(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run a dbt command against this warehouse; raise with dbt's output on failure."""
        self.marts_path.mkdir(parents=True, exist_ok=True)
        raw_link = self.root / PATH_VARS["raw_path"]
        if not (raw_link.exists() or raw_link.is_symlink()):
            raw_link.symlink_to(Path(self.raw_path).resolve(), target_is_directory=True)
        elif raw_link.resolve() != Path(self.raw_path).resolve():
            raise ValueError(f"{raw_link} is not the landing zone {self.raw_path}")
        dbt_vars = {**PATH_VARS, **(self.extra_vars or {})}
        dbt_vars = yaml.safe_dump(dbt_vars, default_flow_style=True).strip()
        parsed = self.root / "target" / "partial_parse.msgpack"
        key = (str(self.project_dir), dbt_vars)
        if not parsed.exists() and key in _PARSED:
            parsed.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(_PARSED[key], parsed)
        env = dict(
            os.environ,
            # relative to the warehouse's folder too: dbt's parse also checks the connection
            RECEVAL_DUCKDB_PATH=self.database.name,
            RECEVAL_TEMP_DIR="tmp",
            RECEVAL_MEMORY_LIMIT="4GB",
            DBT_SEND_ANONYMOUS_USAGE_STATS="false",
            # Spark's warehouse, metastore and scratch (the spark target)
            RECEVAL_SPARK_DIR=str(self.root / "spark"),
        )
        cmd = [
            str(BIN_DIR / "dbt"), "--no-use-colors", *args,
            "--profiles-dir", str(self.project_dir), "--project-dir", str(self.project_dir),
            "--target-path", str(self.root / "target"), "--log-path", str(self.root / "logs"),
            "--vars", dbt_vars, *(["--target", self.target] if self.target else []),
        ]
        result = subprocess.run(cmd, cwd=self.root, env=env, capture_output=True, text=True)
        if key not in _PARSED and parsed.exists():
            _PARSED[key] = _PARSED_DIR / f"{len(_PARSED)}.msgpack"
            shutil.copyfile(parsed, _PARSED[key])
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed:\n{result.stdout[-8000:]}\n{result.stderr[-2000:]}")
        return result

    def query(self, sql: str):
        """Run SQL read-only against the built warehouse; returns a pandas DataFrame. The views
        over the landing zone name it relative to the warehouse's folder."""
        with duckdb.connect(str(self.database), read_only=True) as con:
            con.execute("set file_search_path = ?", [str(self.root)])
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
