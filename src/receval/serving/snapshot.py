"""The online feature snapshot held in memory, and per-request feature assembly.

The three snapshot marts (``fct_online_features_users``, ``..._items``,
``..._user_categories``; docs/features.md) are loaded into numpy arrays keyed by position:
ids are sorted and looked up with ``searchsorted``. Every entity column is encoded once at
load (:class:`~receval.serving.encoding.ColumnEncoder`), so assembling the rows of a request
is a gather of pre-encoded values -- no per-request string or vocabulary work.

The request context fills the remaining columns: ``position`` (every candidate is scored as
if shown at the same slot, :data:`SCORING_POSITION`, so the ranking does not depend on an
order that is not known yet), ``device``, ``hour_of_day`` and ``item_in_user_recent`` (the
item is in the user's ``user_recent_item_ids``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from receval.models.features import CONTENT_PREFIX, FeatureEncoder, FeatureMatrix, join_content, lookup_sorted
from receval.serving.encoding import ColumnEncoder

__all__ = ["USER_COLUMNS", "ITEM_COLUMNS", "USER_CATEGORY_COLUMNS", "CONTEXT_COLUMNS", "SCORING_POSITION",
           "Snapshot", "load_snapshot_tables"]

USER_COLUMNS = ("user_id", "user_country", "user_tenure_days", "user_impressions_7d", "user_ctr_7d",
                "user_impressions_30d", "user_ctr_30d", "user_id_te_ctr")
ITEM_COLUMNS = ("item_id", "item_category", "item_brand", "item_price", "item_age_days", "item_impressions_1h",
                "item_ctr_1h", "item_impressions_1d", "item_ctr_1d", "item_id_te_ctr", "item_id_te_cvr",
                "item_brand_te_ctr")
USER_CATEGORY_COLUMNS = ("user_category_impressions_30d", "user_category_click_share_30d")
CONTEXT_COLUMNS = ("position", "device", "hour_of_day", "item_in_user_recent")
# Candidates are scored as if each were shown first: the position feature then only shifts
# every score alike (the model learned position bias; ranking should not depend on it).
SCORING_POSITION = 1
_MARTS = ("fct_online_features_users", "fct_online_features_items", "fct_online_features_user_categories")


def load_snapshot_tables(marts: Path) -> dict[str, pa.Table]:
    """The three snapshot marts from a marts Parquet folder, keyed by mart name."""
    tables = {}
    for name in _MARTS:
        path = Path(marts) / f"{name}.parquet"
        if not path.exists():
            raise FileNotFoundError(f"{path} not found: build it with "
                                    f"`dbt build --select {' '.join(_MARTS)}`")
        tables[name] = pq.read_table(path)
    return tables


@dataclass
class _Block:
    """Pre-encoded columns of one entity: codes and raw/scaled dense values per row."""

    codes: np.ndarray         # (n + 1, n_cat_columns) int64; last row = missing entity (code 0)
    raw: np.ndarray           # (n + 1, n_dense_columns) float32; last row = missing entity (nan)
    scaled: np.ndarray        # same shape, the model input
    cat_index: list[int]      # positions of these columns in encoder.categorical
    dense_index: list[int]    # positions in encoder.dense


class Snapshot:
    """Encoded snapshot of users, items and user x category features for one encoder.

    Parameters
    ----------
    encoder : FeatureEncoder
        The ranking model's encoder; fixes the column order and the encoding.
    users, items, user_categories : pyarrow.Table
        The snapshot marts.
    content : pyarrow.Table
        ``item_id`` and the ``item_content_*`` columns the encoder uses
        (``int_features__item_content``, or :func:`receval.models.content.item_content_embeddings`
        of ``dim_items``).
    """

    def __init__(self, encoder: FeatureEncoder, users: pa.Table, items: pa.Table, user_categories: pa.Table,
                 content: pa.Table):
        self.encoder = encoder
        self.columns = ColumnEncoder(encoder)
        users = users.sort_by("user_id")
        # the encoder's content columns, joined exactly as attach_content does for training
        items = join_content(items.sort_by("item_id"), content,
                             [c for c in encoder.dense if c.startswith(CONTENT_PREFIX)])
        self.user_ids = users["user_id"].to_numpy()
        self.item_ids = items["item_id"].to_numpy()
        self.users = self._block(users, USER_COLUMNS)
        self.items = self._block(items, ITEM_COLUMNS + tuple(c for c in encoder.dense if c.startswith(CONTENT_PREFIX)))
        self.recent = [set(r or ()) for r in users["user_recent_item_ids"].to_pylist()]
        self._user_category_block(user_categories, items["item_category"].to_pylist())
        unknown = set(encoder.columns) - set(USER_COLUMNS) - set(ITEM_COLUMNS) - set(USER_CATEGORY_COLUMNS) \
            - set(CONTEXT_COLUMNS) - {c for c in encoder.dense if c.startswith(CONTENT_PREFIX)}
        if unknown:
            raise ValueError(f"the encoder uses columns the snapshot cannot serve: {sorted(unknown)}")
        self._dense_pos = {c: j for j, c in enumerate(encoder.dense)}
        self._cat_pos = {c: j for j, c in enumerate(encoder.categorical)}

    @classmethod
    def from_marts(cls, encoder: FeatureEncoder, marts: Path, content: pa.Table) -> "Snapshot":
        t = load_snapshot_tables(marts)
        return cls(encoder, t["fct_online_features_users"], t["fct_online_features_items"],
                   t["fct_online_features_user_categories"], content)

    def _block(self, table: pa.Table, names: tuple[str, ...]) -> _Block:
        enc = self.encoder
        cat = [c for c in enc.categorical if c in names]
        dense = [c for c in enc.dense if c in names]
        codes = np.zeros((table.num_rows, len(cat)), np.int64)
        for j, c in enumerate(cat):
            codes[:, j] = self.columns.codes(c, table[c].to_pylist())
        raw = np.full((table.num_rows + 1, len(dense)), np.nan, np.float32)
        for j, c in enumerate(dense):
            raw[:-1, j] = self.columns.raw(c, table[c].to_numpy(zero_copy_only=False))
        scaled = np.empty_like(raw)
        for j, c in enumerate(dense):
            scaled[:, j] = self.columns.scale(c, raw[:, j])
        codes = np.vstack([codes, np.zeros((1, len(cat)), np.int64)])
        return _Block(codes, raw, scaled, [enc.categorical.index(c) for c in cat],
                      [enc.dense.index(c) for c in dense])

    def _user_category_block(self, table: pa.Table, item_categories: list) -> None:
        """A (user, category) cube of the user x category columns; category index per item."""
        dense = [c for c in self.encoder.dense if c in USER_CATEGORY_COLUMNS]
        categories = sorted({c for c in table["item_category"].to_pylist() if c is not None})
        index = {c: k for k, c in enumerate(categories)}
        # a missing (user, category) pair or an item without a category reads the nan row/column
        raw = np.full((len(self.user_ids) + 1, len(categories) + 1, len(dense)), np.nan, np.float32)
        users, known = lookup_sorted(self.user_ids, table["user_id"].to_numpy())
        cats = np.array([index.get(c, len(categories)) for c in table["item_category"].to_pylist()])
        for j, c in enumerate(dense):
            raw[users[known], cats[known], j] = self.columns.raw(c, table[c].to_numpy(zero_copy_only=False))[known]
        self.user_category_raw = raw
        self.user_category_scaled = np.empty_like(raw)
        for j, c in enumerate(dense):
            self.user_category_scaled[..., j] = self.columns.scale(c, raw[..., j])
        self.user_category_index = [self.encoder.dense.index(c) for c in dense]
        self.item_category_slot = np.append(np.array([index.get(c, len(categories)) for c in item_categories],
                                                     dtype=np.int64), len(categories))

    def user_row(self, user_id: int) -> int:
        """Row of ``user_id`` in the user arrays; the last (all-missing) row if unknown."""
        pos = int(np.searchsorted(self.user_ids, user_id))
        return pos if pos < len(self.user_ids) and self.user_ids[pos] == user_id else len(self.user_ids)

    def item_rows(self, item_ids: np.ndarray) -> np.ndarray:
        """Rows of ``item_ids`` in the item arrays; the last (all-missing) row where unknown."""
        pos, found = lookup_sorted(self.item_ids, np.asarray(item_ids, np.int64))
        return np.where(found, pos, len(self.item_ids))

    def assemble(self, user_id: int, item_ids: np.ndarray, *, device: str, hour_of_day: int,
                 position: int = SCORING_POSITION) -> FeatureMatrix:
        """The encoded rows of (``user_id``, each of ``item_ids``) in one request context."""
        item_ids = np.asarray(item_ids, np.int64)
        n, u, rows = len(item_ids), self.user_row(user_id), self.item_rows(item_ids)
        enc, col = self.encoder, self.columns
        categorical = np.empty((n, len(enc.categorical)), np.int64)
        categorical[:, self.items.cat_index] = self.items.codes[rows]
        categorical[:, self.users.cat_index] = self.users.codes[u]
        raw = np.empty((n, len(enc.dense)), np.float32)
        dense = np.empty_like(raw)
        for block, at in ((self.items, rows), (self.users, u)):
            raw[:, block.dense_index] = block.raw[at]
            dense[:, block.dense_index] = block.scaled[at]
        slots = self.item_category_slot[rows]
        raw[:, self.user_category_index] = self.user_category_raw[u, slots]
        dense[:, self.user_category_index] = self.user_category_scaled[u, slots]
        in_recent = np.fromiter((i in self.recent[u] for i in item_ids.tolist()), bool, n) \
            if u < len(self.recent) else np.zeros(n, bool)
        context = {"position": np.full(n, position), "item_in_user_recent": in_recent.astype(np.float64)}
        for name, values in context.items():
            if name in self._dense_pos:
                j = self._dense_pos[name]
                raw[:, j] = col.raw(name, values)
                dense[:, j] = col.scale(name, raw[:, j])
        for name, value in (("device", device), ("hour_of_day", hour_of_day)):
            if name in self._cat_pos:
                categorical[:, self._cat_pos[name]] = col.codes(name, [value])[0]
        return FeatureMatrix(categorical=categorical, dense=dense, raw_dense=raw)
