"""Landing zones other than the simulator's own, made from a simulated world for the tests.

A user's logs are not the simulator's: they lack entities and optional columns, and their
writers (pandas, Spark) encode valid values in other Parquet types. These helpers rewrite a
copy of a world's ``raw/`` folder in those ways, file by file, with pyarrow.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

# Faults defined against a dimension: in a landing zone without that dimension they are
# ordinary rows (the simulator made them as copies of clean rows with a foreign id).
DIMENSION_FAULTS = {"unknown_user": "users", "unknown_item": "items"}


def reduced_landing_zone(world: Path, out: Path, entities: set[str],
                         drop_columns: dict[str, list[str]] | None = None) -> Path:
    """``world/raw`` with only ``entities``, the columns of ``drop_columns`` removed from
    every file, and the rows of dimension faults whose dimension is left out dropped (so
    the kept rows are the full world's). Returns the new raw folder."""
    raw = out / "raw"
    faults = pd.read_parquet(world / "truth" / "faults.parquet")
    dropped_dims = {dim for dim in DIMENSION_FAULTS.values() if dim not in entities}
    not_faults = faults[faults["reason"].map(DIMENSION_FAULTS).isin(dropped_dims)]
    for entity in sorted(entities):
        drop = set((drop_columns or {}).get(entity, ()))
        ids = set(not_faults.loc[not_faults["entity"] == entity, "event_id"])
        for path in sorted((world / "raw" / entity).glob("date=*/hour=*/*.parquet")):
            table = pq.read_table(path)
            if ids:
                keep = ~pd.Series(table["event_id"].to_numpy(zero_copy_only=False)).isin(ids).to_numpy()
                table = table.filter(pa.array(keep))
            table = table.drop_columns([c for c in table.column_names if c in drop])
            target = raw / path.relative_to(world / "raw")
            target.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, target)
    return raw


def copy_landing_zone(world: Path, out: Path) -> Path:
    """A writable copy of ``world/raw``; returns it."""
    return Path(shutil.copytree(world / "raw", out / "raw"))


def landing_files(raw: Path, entity: str) -> list[Path]:
    """An entity's files in delivery order (arrival partition, then name)."""
    return sorted((raw / entity).glob("date=*/hour=*/*.parquet"))


def rewrite(path: Path, change: Callable[[pa.Table], pa.Table]) -> pa.Table:
    """Rewrite one landing file through ``change``; returns the table as it was."""
    before = pq.read_table(path)
    pq.write_table(change(before), path)
    return before


def with_column(table: pa.Table, name: str, values: pa.Array) -> pa.Table:
    """``table`` with column ``name`` replaced by ``values`` (in place in the column order)."""
    return table.set_column(table.column_names.index(name), name, values)
