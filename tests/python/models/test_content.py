"""receval.models.content: item content embeddings."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from models.synthetic import catalog
from receval.models.content import item_content_embeddings


def test_content_embeddings_separate_items_and_are_deterministic():
    items = catalog()
    first = item_content_embeddings(items, n_components=8, seed=3)
    assert first.equals(item_content_embeddings(items, n_components=8, seed=3))
    vectors = np.column_stack([first[f"item_content_{j}"].to_numpy() for j in range(8)])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # Not all alike: many distinct vectors, and items sharing every attribute are closer
    # than items sharing none.
    assert len(np.unique(vectors.round(4), axis=0)) > 20
    same = vectors[0] @ vectors[42]     # item ids 1 and 43: same category, title; brand 0 vs 0
    other = vectors[0] @ vectors[3]     # different category, brand, title
    assert same > other + 0.3


def test_content_embeddings_of_a_tiny_catalog_keep_all_columns():
    items = catalog().slice(0, 3)
    table = item_content_embeddings(items, n_components=16)
    assert [f"item_content_{j}" for j in range(16)] == table.column_names[1:]


def test_content_embeddings_of_a_catalog_without_attributes_are_zero():
    """A landing zone without items events: dim_items names the items, nothing else."""
    items = pa.table({"item_id": [1, 2, 3], "category": pa.nulls(3, pa.string()), "brand": pa.nulls(3, pa.string()),
                      "title": pa.nulls(3, pa.string()), "price": pa.nulls(3, pa.float64())})
    table = item_content_embeddings(items, n_components=4)
    assert table["item_id"].to_pylist() == [1, 2, 3]
    assert [f"item_content_{j}" for j in range(4)] == table.column_names[1:]
    assert all(v == 0.0 for j in range(4) for v in table[f"item_content_{j}"].to_pylist())
