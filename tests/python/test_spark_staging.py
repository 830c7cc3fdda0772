"""The staging layer on Spark equals the one on DuckDB (issue 20): `dbt build --target spark`
(dbt-spark's session method, pyspark in-process) of the seeds and models/staging on the
tiny world, every model compared row for row with the DuckDB build of the same world; and
the same on that world's landing zone reduced to impressions and clicks.

The tiny world's landing zone carries the simulator's faults, among them an impressions
file whose `position` is a string: on Spark that file is read by a scan of its own
(macros/landing_spark.sql) and rejected as schema_mismatch, as on DuckDB.

Needs the `spark` extra and Java 17: `make test-spark` (pytest -m spark)."""
from __future__ import annotations

import json
import math
import re
import shutil

import duckdb
import pandas as pd
import pytest

from dbt_runner import TINY_VARS, Warehouse

pytestmark = [pytest.mark.spark, pytest.mark.dbt]

SELECT = ("--select", "path:models/staging", "path:seeds", "--exclude-resource-type", "test", "unit_test")
#: a timestamp inside a payload as Spark writes it (DuckDB drops a fraction's trailing zeros)
_PAYLOAD_TS = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+$")


@pytest.fixture(scope="module", params=["whole", "impressions_clicks"])
def builds(request, tiny_world, tmp_path_factory) -> tuple[Warehouse, Warehouse]:
    """The staging layer built on both engines from the tiny world's landing zone, whole or
    reduced to the two required entities (every optional one absent: the on-run-end notices
    and the empty readers ask Spark which entities have files)."""
    raw = tiny_world / "raw"
    if request.param != "whole":
        raw = tmp_path_factory.mktemp("reduced_landing") / "raw"
        for entity in request.param.split("_"):
            shutil.copytree(tiny_world / "raw" / entity, raw / entity)
    duck = Warehouse(tmp_path_factory.mktemp("duckdb_staging"), raw, TINY_VARS)
    spark = Warehouse(tmp_path_factory.mktemp("spark_staging"), raw, TINY_VARS, target="spark")
    duck.dbt("build", *SELECT)
    spark.dbt("build", *SELECT)
    return duck, spark


def _spark_session(warehouse: Warehouse, monkeypatch):
    """A Spark session on the build's metastore (dbt's own process has exited), started in
    the warehouse's folder: its views name the landing zone relative to it."""
    from pyspark.sql import SparkSession

    monkeypatch.chdir(warehouse.root)   # the JVM starts here: Spark resolves paths against it

    spark_dir = warehouse.root / "spark"
    return (SparkSession.builder.master("local[2]").appName("receval-test")
            .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.warehouse.dir", str(spark_dir / "warehouse"))
            .config("spark.hadoop.javax.jdo.option.ConnectionURL",
                    f"jdbc:derby:;databaseName={spark_dir}/metastore_db;create=true")
            .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={spark_dir}")
            .config("spark.sql.session.timeZone", "UTC")
            .enableHiveSupport().getOrCreate())


def _canonical(value) -> str:
    """One text per value whatever the engine's Python type: null, integral numbers without a
    fraction, floats to 12 significant digits, dates as midnight timestamps, and a payload's
    JSON with sorted keys, timestamps without trailing zeros and scalars as text (a raw
    value keeps the file's type: "3" where a file wrote position as text; Spark types it)."""
    if value is None or value is pd.NaT or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "<null>"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 2**53 else f"{value:.12g}"
    if isinstance(value, pd.Timestamp):
        return value.tz_localize(None).isoformat() if value.tzinfo else value.isoformat()
    if hasattr(value, "isoformat"):   # a date: DuckDB's DATE reaches pandas as a timestamp
        return value.isoformat() + ("" if hasattr(value, "hour") else "T00:00:00")
    if isinstance(value, str) and value.startswith("{"):
        row = json.loads(value)
        return json.dumps({k: None if v is None else
                           (v.rstrip("0").rstrip(".") if isinstance(v, str) and _PAYLOAD_TS.match(v) else str(v))
                           for k, v in row.items()}, sort_keys=True)
    return str(value)


def _rows(frame: pd.DataFrame) -> list[tuple[str, ...]]:
    return sorted(tuple(_canonical(v) for v in row) for row in frame.itertuples(index=False))


def test_every_staging_model_equals_duckdb(builds, monkeypatch):
    duck, spark_build = builds
    spark = _spark_session(spark_build, monkeypatch)
    # both engines' views name the landing zone relative to their warehouse's folder (as when
    # dbt built them): query DuckDB's from its own
    monkeypatch.chdir(duck.root)
    try:
        models = sorted(r.tableName for r in spark.sql("show tables in receval").collect())
        assert len(models) >= 34, models   # every base and staging model and view
        differ = {}
        with duckdb.connect(str(duck.database), read_only=True) as con:
            con.execute("set TimeZone = 'UTC'")   # as the profile sets it
            for model in models:
                got = spark.sql(f"select * from receval.{model}").toPandas()
                want = con.sql(f"select * from main.{model}").df()
                if list(got.columns) != list(want.columns):
                    differ[model] = f"columns {list(got.columns)} != {list(want.columns)}"
                elif _rows(got) != _rows(want):
                    differ[model] = f"{len(got)} rows on Spark, {len(want)} on DuckDB, not the same"
        assert not differ, differ
        # the mismatched file went through its own scan and was rejected as on DuckDB
        rejected = spark.sql("select count(*) from receval.stg_landing__rejected_events"
                             " where reason = 'schema_mismatch'").collect()[0][0]
        assert rejected > 0
    finally:
        spark.stop()
