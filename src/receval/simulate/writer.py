"""The landing-zone writer: buffers batches and writes one Parquet file per arrival hour.

A Kafka Connect S3 sink partitions by the hour it *wrote* a record, so rows are buffered
until no later-generated event can still arrive in their hour (events are generated day by
day and never arrive before they happen), then written to
``raw/<entity>/date=YYYY-MM-DD/hour=HH/part-00000.parquet`` sorted by arrival then event_id.
Each partition is written exactly once, which keeps memory bounded to the not-yet-final
hours and the output byte-for-byte deterministic.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from receval.contract import ENTITY_SCHEMAS
from receval.simulate.batch import Batch
from receval.simulate.config import US_PER_HOUR


def partition_paths(entity: str, arrival_us: np.ndarray) -> np.ndarray:
    """Paths (relative to raw/) of the files holding rows that arrived at ``arrival_us``."""
    stamp = np.datetime_as_string(np.asarray(arrival_us).astype("datetime64[us]"), unit="h")
    return np.array([f"{entity}/date={s[:10]}/hour={s[11:13]}/part-00000.parquet" for s in np.unique(stamp)],
                    dtype=object)[np.unique(stamp, return_inverse=True)[1]]


def break_schema(table: pa.Table) -> pa.Table:
    """The injected schema_mismatch: ``position`` as string and ``propensity`` missing."""
    i = table.schema.get_field_index("position")
    table = table.set_column(i, "position", table.column(i).cast(pa.string()))
    return table.drop_columns(["propensity"])


class PartitionWriter:
    """Buffer batches per entity and write every arrival hour that has become final.

    Parameters
    ----------
    raw_dir : Path
        The ``raw/`` folder (must exist and be empty).
    broken : tuple of (str, int)
        Entity and arrival-hour start (us) of the one partition written with
        :func:`break_schema`.
    """

    def __init__(self, raw_dir: Path, broken: tuple[str, int]):
        self.raw_dir = raw_dir
        self.broken = broken
        self.pending: dict[str, list[Batch]] = {e: [] for e in ENTITY_SCHEMAS}
        self.rows_written: dict[str, int] = dict.fromkeys(ENTITY_SCHEMAS, 0)
        self.files_written = 0

    def add(self, entity: str, batch: Batch) -> None:
        if len(batch):
            self.pending[entity].append(batch)

    def flush(self, before_us: int | None = None) -> None:
        """Write every buffered row that arrived before ``before_us`` (all rows if None)."""
        for entity, parts in self.pending.items():
            if not parts:
                continue
            batch = Batch.concat(parts)
            ready = np.ones(len(batch), bool) if before_us is None else batch.arrival < before_us
            self.pending[entity] = [batch.take(~ready)] if (~ready).any() else []
            if ready.any():
                self._write(entity, batch.take(ready))

    def _write(self, entity: str, batch: Batch) -> None:
        order = np.lexsort((batch.cols["event_id"], batch.arrival))
        batch = batch.take(order)
        table = batch.to_arrow(ENTITY_SCHEMAS[entity])
        hours = batch.arrival // US_PER_HOUR
        starts = np.flatnonzero(np.r_[True, hours[1:] != hours[:-1]])
        ends = np.r_[starts[1:], len(hours)]
        for s, e in zip(starts, ends):
            hour_us = int(hours[s]) * US_PER_HOUR
            part = table.slice(s, e - s)
            if (entity, hour_us) == self.broken:
                part = break_schema(part)
            path = self.raw_dir / partition_paths(entity, np.array([hour_us]))[0]
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(part, path, compression="zstd")
            self.files_written += 1
        self.rows_written[entity] += len(batch)
