"""Columnar row batches: numpy columns plus each row's arrival time.

The simulator builds, mutates and buffers events as numpy arrays (fast, vectorised) and only
converts to Arrow when a partition is written. Nulls use sentinels so integer columns stay
integer: ``NULL_INT`` for int/timestamp columns, ``NaN`` for floats and code ``-1`` for
strings (held as dictionary codes in :class:`Cat`, which keeps 100M-row string columns cheap).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

NULL_INT = np.iinfo(np.int64).min


@dataclass(frozen=True)
class Cat:
    """A string column as dictionary codes into ``vocab``; code -1 is null."""

    codes: np.ndarray
    vocab: tuple[str, ...]

    @classmethod
    def of(cls, vocab: tuple[str, ...], codes) -> "Cat":
        return cls(np.asarray(codes, dtype=np.int32), tuple(vocab))

    @classmethod
    def full(cls, value: str | None, n: int) -> "Cat":
        """A constant column (``None`` gives an all-null column)."""
        if value is None:
            return cls(np.full(n, -1, np.int32), ())
        return cls(np.zeros(n, np.int32), (value,))

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, idx) -> "Cat":
        return Cat(self.codes[idx], self.vocab)

    def to_arrow(self) -> pa.Array:
        dictionary = pa.array(list(self.vocab), pa.string())
        codes = pa.array(self.codes, mask=self.codes < 0)
        return pa.DictionaryArray.from_arrays(codes, dictionary).cast(pa.string())

    @staticmethod
    def concat(parts: list["Cat"]) -> "Cat":
        """Concatenate, re-coding onto the union vocabulary when vocabularies differ."""
        vocab = tuple(dict.fromkeys(v for p in parts for v in p.vocab))
        index = {v: i for i, v in enumerate(vocab)}
        codes = []
        for p in parts:
            lut = np.array([index[v] for v in p.vocab] + [-1], dtype=np.int32)
            codes.append(lut[p.codes])
        return Cat(np.concatenate(codes), vocab)


Column = np.ndarray | Cat


@dataclass
class Batch:
    """Rows of one entity: named columns (contract order) and arrival time in microseconds."""

    cols: dict[str, Column]
    arrival: np.ndarray

    def __len__(self) -> int:
        return len(self.arrival)

    def take(self, idx) -> "Batch":
        """Rows at ``idx`` (an index array or mask): always new arrays, safe to mutate."""
        return Batch({k: v[idx] for k, v in self.cols.items()}, self.arrival[idx])

    @staticmethod
    def concat(parts: list["Batch"]) -> "Batch":
        names = parts[0].cols
        cols = {
            k: Cat.concat([p.cols[k] for p in parts]) if isinstance(names[k], Cat)
            else np.concatenate([p.cols[k] for p in parts])
            for k in names
        }
        return Batch(cols, np.concatenate([p.arrival for p in parts]))

    def to_arrow(self, schema: pa.Schema) -> pa.Table:
        """Convert to an Arrow table with exactly ``schema`` (sentinels become nulls)."""
        arrays = []
        for f in schema:
            v = self.cols[f.name]
            if isinstance(v, Cat):
                arrays.append(v.to_arrow())
            elif pa.types.is_floating(f.type):
                arrays.append(pa.array(v, f.type, from_pandas=True))
            else:
                null = v == (np.iinfo(v.dtype).min)
                raw = v.astype("datetime64[us]") if pa.types.is_timestamp(f.type) else v
                arrays.append(pa.array(raw, f.type, mask=null if null.any() else None))
        return pa.Table.from_arrays(arrays, schema=schema)
