"""Column-wise feature encoding for serving, equal to :meth:`FeatureEncoder.transform`.

``FeatureEncoder.transform`` encodes a whole Arrow table; a server instead encodes each
entity (user, item, user x category) once when it loads the snapshot and gathers the
encoded rows per request. The operations here are the same element-wise float32 ones
(``float64 -> float32``, ``log1p(max(x, 0))`` for counts, ``(x - mean) / std``, missing -> 0)
and the same vocabulary lookup (``str(value)``, unseen -> code 0), so a row encoded here
and by ``transform`` is identical; ``tests/python/serving/test_scorer.py`` checks it.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from receval.models.features import COUNT_COLUMNS, FeatureEncoder, FeatureMatrix

__all__ = ["ColumnEncoder"]


class ColumnEncoder:
    """Encode single columns the way ``encoder`` encodes a table.

    Parameters
    ----------
    encoder : FeatureEncoder
        The model's fitted encoder (``encoder.json`` beside its artifact).
    """

    def __init__(self, encoder: FeatureEncoder):
        self.encoder = encoder
        self.lookups = {name: {value: code for code, value in enumerate(encoder.vocabularies[name], start=1)}
                        for name in encoder.categorical}
        self.means = dict(zip(encoder.dense, np.asarray(encoder.means, np.float32)))
        self.stds = dict(zip(encoder.dense, np.asarray(encoder.stds, np.float32)))

    def codes(self, name: str, values: Sequence) -> np.ndarray:
        """Integer codes of a categorical column (0 = missing or unseen in training)."""
        lookup = self.lookups[name]
        return np.fromiter((lookup.get(_as_key(v), 0) for v in values), dtype=np.int64, count=len(values))

    def raw(self, name: str, values) -> np.ndarray:
        """A dense column as the models' ``raw_dense`` holds it: float32, nan where missing."""
        if isinstance(values, list) or getattr(values, "dtype", None) == object:
            values = [np.nan if v is None else v for v in values]
        return np.asarray(values, np.float64).astype(np.float32)

    def scale(self, name: str, raw: np.ndarray) -> np.ndarray:
        """The model input of a raw dense column: log1p for counts, standardised, nan -> 0."""
        raw = np.asarray(raw, np.float32)
        if name in COUNT_COLUMNS:
            raw = np.log1p(np.maximum(raw, 0.0))
        return np.nan_to_num((raw - self.means[name]) / self.stds[name], nan=0.0).astype(np.float32)

    def encode(self, columns: Mapping[str, Sequence]) -> FeatureMatrix:
        """Encode whole rows given as columns (the slow reference path, any row count)."""
        missing = [c for c in self.encoder.columns if c not in columns]
        if missing:
            raise ValueError(f"rows are missing feature columns {missing}")
        categorical = np.stack([self.codes(c, list(columns[c])) for c in self.encoder.categorical], axis=1)
        raw = np.stack([self.raw(c, columns[c]) for c in self.encoder.dense], axis=1)
        dense = np.stack([self.scale(c, raw[:, j]) for j, c in enumerate(self.encoder.dense)], axis=1)
        return FeatureMatrix(categorical=categorical, dense=dense, raw_dense=raw)


def _as_key(value) -> str | None:
    """The vocabulary key of a value, as Arrow's cast to string writes it."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return str(value)
