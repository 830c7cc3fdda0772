"""The feature contract between the warehouse and the candidate models.

``int_features__impressions`` (point-in-time SQL features, one row per impression) and the
online snapshot marts carry the columns named here. :class:`FeatureEncoder` turns such an
Arrow table into a :class:`FeatureMatrix` -- integer codes for the categorical columns,
float32 for the dense ones -- with vocabularies and scalings fitted on the training rows
only, and serialises itself to JSON beside a model's artifact, so the offline scorer and a
serving process encode a row the same way.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from receval.models.delayed_feedback import ConversionTargets

__all__ = [
    "CATEGORICAL", "DENSE", "COUNT_COLUMNS", "CONTENT_PREFIX", "FeatureMatrix", "FeatureEncoder",
    "feature_hash", "lookup_sorted", "join_content",
]

# Categorical columns: embedded by the MMoE; the low-cardinality ones are native
# categoricals for XGBoost (user_id / item_id enter XGBoost through their target encodings).
CATEGORICAL = ("user_id", "item_id", "item_category", "item_brand", "device", "user_country", "hour_of_day")
# Dense columns, as the SQL computes them (rates are null where their denominator is 0).
DENSE = (
    "position", "item_price", "item_age_days", "user_tenure_days",
    "user_impressions_7d", "user_ctr_7d", "user_impressions_30d", "user_ctr_30d",
    "user_category_impressions_30d", "user_category_click_share_30d", "item_in_user_recent",
    "item_impressions_1h", "item_ctr_1h", "item_impressions_1d", "item_ctr_1d",
    "item_id_te_ctr", "user_id_te_ctr", "item_brand_te_ctr", "item_id_te_cvr",
)
# Heavy-tailed counts (and price) are log1p-transformed before scaling.
COUNT_COLUMNS = frozenset({
    "item_price", "item_age_days", "user_tenure_days", "user_impressions_7d", "user_impressions_30d",
    "user_category_impressions_30d", "item_impressions_1h", "item_impressions_1d",
})
# Content embedding of the item (int_features__item_content): item_content_0, item_content_1, ...
CONTENT_PREFIX = "item_content_"


def feature_hash(columns: list[str] | tuple[str, ...]) -> str:
    """A short stable hash of an ordered feature list (recorded in the model registry)."""
    return hashlib.sha256(json.dumps(list(columns)).encode()).hexdigest()[:16]


def lookup_sorted(sorted_keys: np.ndarray, keys) -> tuple[np.ndarray, np.ndarray]:
    """Positions of ``keys`` in the ascending array ``sorted_keys``, and whether each is
    there (a position means nothing where it is not)."""
    keys = np.asarray(keys)
    if not len(sorted_keys):
        return np.zeros(len(keys), np.int64), np.zeros(len(keys), bool)
    pos = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return pos, sorted_keys[pos] == keys


def join_content(table: pa.Table, content: pa.Table, names: list[str] | None = None) -> pa.Table:
    """``table`` (rows in their order) with the item content embedding columns ``names``
    (default: every ``item_content_*`` of ``content``) joined on item_id; 0.0 for an item
    missing from the catalog."""
    if names is None:
        names = [c for c in content.column_names if c.startswith(CONTENT_PREFIX)]
    missing = [c for c in names if c not in content.column_names]
    if missing:
        raise ValueError(f"content table lacks columns {missing}")
    content = content.sort_by("item_id")
    pos, found = lookup_sorted(content["item_id"].to_numpy(), table["item_id"].to_numpy())
    for name in names:
        values = np.where(found, content[name].to_numpy()[pos], 0.0).astype(np.float32)
        table = table.append_column(name, pa.array(values))
    return table


@dataclass
class FeatureMatrix:
    """Encoded rows: what a model trains on or scores.

    Attributes
    ----------
    categorical : ndarray of int64, shape (n, n_categorical)
        Codes ``1..V`` of each categorical column; 0 is missing or unseen in training
        (a cold-start item or a new user).
    dense : ndarray of float32, shape (n, n_dense)
        Dense columns after log1p (counts) and standardisation; missing values are 0
        (the training mean).
    raw_dense : ndarray of float32, shape (n, n_dense)
        The dense columns as the SQL computed them (nan where missing), for tree models.
    click, conversion : ndarray of float32, shape (n,) or None
        Labels, where the table carries them.
    conversion_weight : ndarray of float32, shape (n,) or None
        1 where the conversion label is final (mature), 0 where it may still flip.
    conversion_targets : ConversionTargets or None
        Importance-weighted conversion samples of the ``esdfm`` labels
        (:mod:`receval.models.delayed_feedback`); None otherwise.
    sample_weight : ndarray of float32, shape (n,) or None
        Inverse-probability weight of each row where the rows are a negative sample
        (:mod:`receval.models.sampling`): it multiplies both tasks' losses. None is 1.
    """

    categorical: np.ndarray
    dense: np.ndarray
    raw_dense: np.ndarray
    click: np.ndarray | None = None
    conversion: np.ndarray | None = None
    conversion_weight: np.ndarray | None = None
    conversion_targets: ConversionTargets | None = None
    sample_weight: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.dense)


@dataclass
class FeatureEncoder:
    """Vocabularies and scalings fitted on training rows; applied to any later rows."""

    categorical: tuple[str, ...]
    dense: tuple[str, ...]
    vocabularies: dict[str, list[str]] = field(default_factory=dict)
    means: list[float] = field(default_factory=list)
    stds: list[float] = field(default_factory=list)

    @classmethod
    def fit(cls, table: pa.Table, categorical=CATEGORICAL, dense: tuple[str, ...] | None = None,
            max_vocabulary: int | None = None) -> "FeatureEncoder":
        """Fit on ``table`` (the training rows). ``dense`` defaults to :data:`DENSE` plus every
        ``item_content_*`` column the table has; ``max_vocabulary`` keeps the most frequent values."""
        if dense is None:
            dense = DENSE + tuple(c for c in table.column_names if c.startswith(CONTENT_PREFIX))
        _require(table, (*categorical, *dense))
        vocabularies = {}
        for name in categorical:
            counts = pc.value_counts(pc.cast(table[name], pa.string())).to_pylist()
            counts = [c for c in counts if c["values"] is not None]
            counts.sort(key=lambda c: (-c["counts"], c["values"]))
            vocabularies[name] = [c["values"] for c in counts[:max_vocabulary]]
        encoder = cls(tuple(categorical), tuple(dense), vocabularies)
        transformed = encoder._transformed_dense(table)
        with np.errstate(invalid="ignore"):
            means = np.nanmean(transformed, axis=0)
            stds = np.nanstd(transformed, axis=0)
        encoder.means = np.nan_to_num(means).tolist()
        encoder.stds = np.where(np.isfinite(stds) & (stds > 0), stds, 1.0).tolist()
        return encoder

    @property
    def cardinalities(self) -> list[int]:
        """Embedding table size per categorical column (vocabulary + the 0 code)."""
        return [len(self.vocabularies[c]) + 1 for c in self.categorical]

    @property
    def columns(self) -> list[str]:
        """Every input column, in order (its hash identifies the feature set)."""
        return [*self.categorical, *self.dense]

    def transform(self, table: pa.Table) -> FeatureMatrix:
        """Encode ``table``; labels are read where the columns are present."""
        _require(table, self.columns)
        codes = np.zeros((table.num_rows, len(self.categorical)), dtype=np.int64)
        for j, name in enumerate(self.categorical):
            vocabulary = pa.array(self.vocabularies[name], pa.string())
            index = pc.index_in(pc.cast(table[name], pa.string()), value_set=vocabulary)
            codes[:, j] = pc.fill_null(index, -1).to_numpy(zero_copy_only=False) + 1
        raw = _dense_array(table, self.dense)
        scaled = (self._log_counts(raw) - np.asarray(self.means, np.float32)) / np.asarray(self.stds, np.float32)
        scaled = np.nan_to_num(scaled, nan=0.0).astype(np.float32)
        return FeatureMatrix(
            categorical=codes, dense=scaled, raw_dense=raw,
            click=_optional_label(table, "is_clicked"),
            conversion=_optional_label(table, "is_converted"),
            conversion_weight=_optional_label(table, "is_label_mature"),
        )

    def to_json(self) -> str:
        return json.dumps({"categorical": self.categorical, "dense": self.dense,
                           "vocabularies": self.vocabularies, "means": self.means, "stds": self.stds})

    @classmethod
    def from_json(cls, text: str) -> "FeatureEncoder":
        spec = json.loads(text)
        return cls(tuple(spec["categorical"]), tuple(spec["dense"]), spec["vocabularies"],
                   spec["means"], spec["stds"])

    def _transformed_dense(self, table: pa.Table) -> np.ndarray:
        return self._log_counts(_dense_array(table, self.dense))

    def _log_counts(self, raw: np.ndarray) -> np.ndarray:
        out = raw.copy()
        for j, name in enumerate(self.dense):
            if name in COUNT_COLUMNS:
                out[:, j] = np.log1p(np.maximum(out[:, j], 0.0))
        return out


def _require(table: pa.Table, columns) -> None:
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise ValueError(f"feature table is missing columns {missing}; it has {table.column_names}")


def _dense_array(table: pa.Table, columns) -> np.ndarray:
    out = np.empty((table.num_rows, len(columns)), dtype=np.float32)
    for j, name in enumerate(columns):
        column = pc.cast(table[name], pa.float64())
        out[:, j] = pc.fill_null(column, np.nan).to_numpy(zero_copy_only=False)
    return out


def _optional_label(table: pa.Table, name: str) -> np.ndarray | None:
    if name not in table.column_names:
        return None
    column = pc.cast(table[name], pa.float32())
    return pc.fill_null(column, 0.0).to_numpy(zero_copy_only=False).astype(np.float32)
