"""receval.serving.retrieval: HNSW recall against exact search, and content vectors for
cold-start items."""
from __future__ import annotations

import numpy as np
import pytest

from receval.serving import HNSWIndex, fit_factors, recall_at_k


def test_hnsw_recall_and_distinct_results():
    rng = np.random.default_rng(0)
    # low-rank structure plus noise, and uneven norms, as matrix-factorisation vectors have
    basis = rng.normal(size=(8, 32))
    items = (rng.normal(size=(3000, 8)) @ basis + 0.3 * rng.normal(size=(3000, 32))) \
        * rng.lognormal(0, 0.5, size=(3000, 1))
    items = items.astype(np.float32)
    queries = (rng.normal(size=(50, 8)) @ basis).astype(np.float32)
    ids = np.arange(10, 3010)
    index = HNSWIndex(ids, items, ef_search=500)
    assert recall_at_k(index, queries, 200) >= 0.95
    found, scores = index.search(queries[:1], 200)
    assert len(set(found[0].tolist())) == 200 and set(found[0].tolist()) <= set(ids.tolist())
    np.testing.assert_allclose(scores[0], items[found[0] - 10] @ queries[0], rtol=1e-5)
    with pytest.raises(ValueError, match="ef_search"):
        HNSWIndex(ids, items, ef_search=10).search(queries, 200)


def test_cold_start_items_get_content_vectors():
    rng = np.random.default_rng(1)
    n_users, n_items, d = 200, 60, 8
    content = rng.normal(size=(n_items + 5, d))
    users = rng.integers(0, n_users, 3000)
    items = rng.integers(0, n_items, 3000)  # items n_items.. never appear in the log
    factors = fit_factors(users, items, rng.random(3000) < 0.1, n_factors=4,
                          catalog=np.arange(n_items + 5), catalog_content=content)
    cold = factors.item_vectors[n_items:]
    assert cold.shape == (5, 4) and np.all(np.linalg.norm(cold, axis=1) > 0)
    with pytest.raises(ValueError, match="catalog_content"):
        fit_factors(users, items, np.zeros(3000), catalog=np.arange(n_items + 5))
