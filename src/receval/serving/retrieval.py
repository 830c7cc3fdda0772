"""Candidate retrieval: item vectors learned from the logs and an HNSW index over them.

Item and user vectors come from implicit matrix factorisation of the user x item matrix
(an impression weighs 1, a click ``click_weight`` more), log-damped and factorised by
truncated SVD (Hu, Koren & Volinsky 2008 motivate the weighting; SVD is the closed-form
rank-k fit). ``user vector . item vector`` approximates the weighted affinity, so the
user's vector is the query of an inner-product search. A cold-start item (no
interactions) gets a vector from its content embedding: a ridge regression from
``item_content_*`` to the item factors, fitted on the warm items.

The index is FAISS ``IndexHNSWFlat`` (Malkov & Yashunin 2018). Factor norms are very
uneven (popular items are long), and an HNSW graph built with ``METRIC_INNER_PRODUCT``
then links most nodes to a few long hubs: on the default world it reached only 0.81
recall@1000 at efSearch 1200. By default (``metric="l2"``) the index therefore uses the
exact reduction of inner-product search to L2 search (Bachrach et al. 2014): each item
gets one extra coordinate ``sqrt(max_norm^2 - |x|^2)`` and each query a 0, so
``|q - x|^2 = |q|^2 + max_norm^2 - 2 q.x`` ranks items exactly as ``q.x`` does, and the
graph's neighbourhoods are meaningful again (0.96 at the same efSearch, and faster).
``metric="ip"`` builds the plain inner-product graph. Scores returned are inner products
either way; :func:`recall_at_k` measures the index against exact inner-product search
(``IndexFlatIP``) on the same queries.

References
----------
Hu, Y., Koren, Y., Volinsky, C. (2008). Collaborative filtering for implicit feedback
datasets. ICDM 2008.
Malkov, Y. A., Yashunin, D. A. (2018). Efficient and robust approximate nearest neighbor
search using hierarchical navigable small world graphs. IEEE TPAMI.
Bachrach, Y. et al. (2014). Speeding up the Xbox recommender system using a Euclidean
transformation for inner-product spaces. RecSys 2014.
"""
from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np
import scipy.sparse as sp
from sklearn.utils.extmath import randomized_svd

from receval.models.features import lookup_sorted

__all__ = ["Factors", "fit_factors", "content_to_factors", "HNSWIndex", "recall_at_k"]


@dataclass
class Factors:
    """User and item vectors of one factorisation (ids sorted, vectors float32)."""

    user_ids: np.ndarray
    user_vectors: np.ndarray
    item_ids: np.ndarray
    item_vectors: np.ndarray

    def user_vector(self, user_id: int) -> np.ndarray:
        """The query of ``user_id``; the mean user for one unseen in the logs."""
        pos = int(np.searchsorted(self.user_ids, user_id))
        if pos < len(self.user_ids) and self.user_ids[pos] == user_id:
            return self.user_vectors[pos]
        return self.user_vectors.mean(axis=0)


def fit_factors(user_ids: np.ndarray, item_ids: np.ndarray, clicked: np.ndarray, *, n_factors: int = 64,
                click_weight: float = 10.0, catalog: np.ndarray | None = None,
                catalog_content: np.ndarray | None = None, ridge: float = 1.0, seed: int = 0) -> Factors:
    """Factorise the interaction log; map cold-start catalog items from their content.

    Parameters
    ----------
    user_ids, item_ids, clicked : ndarray, shape (n,)
        One row per impression (``clicked`` 0/1).
    n_factors : int
        Vector dimension (capped by the matrix size).
    click_weight : float
        Extra weight of a click over an impression.
    catalog : ndarray of int64, optional
        Every item that must get a vector (default: the items in the log).
    catalog_content : ndarray of float, shape (len(catalog), d), optional
        Content embeddings of ``catalog``; required when it holds items absent from the log.
    ridge : float
        L2 penalty of the content -> factor regression.
    seed : int
        Seed of the randomised SVD.
    """
    user_ids, item_ids = np.asarray(user_ids, np.int64), np.asarray(item_ids, np.int64)
    if not len(user_ids) or len(user_ids) != len(item_ids) or len(clicked) != len(user_ids):
        raise ValueError("user_ids, item_ids and clicked must be non-empty and of equal length")
    users, u = np.unique(user_ids, return_inverse=True)
    warm, i = np.unique(item_ids, return_inverse=True)
    weight = 1.0 + click_weight * np.asarray(clicked, np.float64)
    matrix = sp.csr_matrix((weight, (u, i)), shape=(len(users), len(warm)))
    matrix.data = np.log1p(matrix.data)  # damp heavy users and items
    k = max(1, min(n_factors, min(matrix.shape) - 1))
    left, sigma, right = randomized_svd(matrix, k, random_state=seed)
    # split sigma evenly so that user . item reproduces the matrix and both sides share a scale
    root = np.sqrt(sigma)
    user_vectors = np.pad(left * root, ((0, 0), (0, n_factors - k))).astype(np.float32)
    item_vectors = np.pad(right.T * root, ((0, 0), (0, n_factors - k))).astype(np.float32)
    if catalog is None:
        return Factors(users, user_vectors, warm, item_vectors)
    catalog = np.asarray(catalog, np.int64)
    order = np.argsort(catalog)
    catalog = catalog[order]
    out = np.zeros((len(catalog), n_factors), np.float32)
    pos, is_warm = lookup_sorted(warm, catalog)
    out[is_warm] = item_vectors[pos[is_warm]]
    if (~is_warm).any():
        if catalog_content is None:
            raise ValueError(f"{int((~is_warm).sum())} catalog items have no interactions: pass catalog_content")
        content = np.asarray(catalog_content, np.float64)[order]
        out[~is_warm] = content_to_factors(content[is_warm], out[is_warm], content[~is_warm], ridge)
    return Factors(users, user_vectors, catalog, out)


def content_to_factors(warm_content: np.ndarray, warm_factors: np.ndarray, cold_content: np.ndarray,
                       ridge: float = 1.0) -> np.ndarray:
    """Ridge regression (with intercept) from content to factors, applied to cold items.

    ``W = (X'X + ridge I)^-1 X'Y`` on centred warm rows; cold vectors ``= mean_Y + (x - mean_X) W``.
    """
    if ridge < 0:
        raise ValueError(f"ridge must be >= 0, got {ridge}")
    x_mean, y_mean = warm_content.mean(axis=0), warm_factors.mean(axis=0)
    x, y = warm_content - x_mean, warm_factors - y_mean
    weights = np.linalg.solve(x.T @ x + ridge * np.eye(x.shape[1]), x.T @ y)
    return (y_mean + (cold_content - x_mean) @ weights).astype(np.float32)


class HNSWIndex:
    """Inner-product HNSW over item vectors.

    Parameters
    ----------
    item_ids : ndarray of int64, shape (n,)
    vectors : ndarray of float32, shape (n, d)
    m : int, default 32
        Graph degree (links per node and layer).
    metric : {"l2", "ip"}, default "l2"
        ``"l2"``: inner product through the L2 reduction (module docstring);
        ``"ip"``: ``METRIC_INNER_PRODUCT`` on the raw vectors.
    ef_construction : int, default 64
        Beam width while building (higher: better graph, slower build).
    ef_search : int, default 1500
        Beam width while searching; must be >= k. 1500 keeps recall@1000 >= 0.95 on the
        catalogs of benchmarks/serving_latency.py (docs/serving.md).
    """

    def __init__(self, item_ids: np.ndarray, vectors: np.ndarray, *, m: int = 32, metric: str = "l2",
                 ef_construction: int = 64, ef_search: int = 1500):
        vectors = np.ascontiguousarray(vectors, np.float32)
        if vectors.ndim != 2 or len(vectors) != len(item_ids):
            raise ValueError(f"vectors must have shape ({len(item_ids)}, d), got {vectors.shape}")
        if metric not in ("l2", "ip"):
            raise ValueError(f"metric must be 'l2' or 'ip', got {metric!r}")
        self.item_ids = np.asarray(item_ids, np.int64)
        self.vectors = vectors
        self.metric = metric
        if metric == "l2":
            norms = np.einsum("ij,ij->i", vectors, vectors)
            extra = np.sqrt(np.maximum(norms.max() - norms, 0.0))[:, None]
            self.index = faiss.IndexHNSWFlat(vectors.shape[1] + 1, m, faiss.METRIC_L2)
            indexed = np.ascontiguousarray(np.hstack([vectors, extra]), np.float32)
        else:
            self.index = faiss.IndexHNSWFlat(vectors.shape[1], m, faiss.METRIC_INNER_PRODUCT)
            indexed = vectors
        self.index.hnsw.efConstruction = ef_construction
        self.index.add(indexed)
        self.ef_search = ef_search

    @property
    def ef_search(self) -> int:
        return self.index.hnsw.efSearch

    @ef_search.setter
    def ef_search(self, value: int) -> None:
        if value < 1:
            raise ValueError(f"ef_search must be >= 1, got {value}")
        self.index.hnsw.efSearch = int(value)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` item ids and inner products per query row (ids -1 where fewer exist)."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), np.float32)
        k = min(k, len(self.item_ids))
        if self.ef_search < k:
            raise ValueError(f"ef_search ({self.ef_search}) must be >= k ({k}) to return k candidates")
        search = np.hstack([queries, np.zeros((len(queries), 1), np.float32)]) if self.metric == "l2" else queries
        _, rows = self.index.search(np.ascontiguousarray(search), k)
        found = np.maximum(rows, 0)
        scores = np.where(rows >= 0, np.einsum("qkd,qd->qk", self.vectors[found], queries), -np.inf)
        return np.where(rows >= 0, self.item_ids[found], -1), scores.astype(np.float32)


def recall_at_k(index: HNSWIndex, queries: np.ndarray, k: int) -> float:
    """Mean share of the exact top-``k`` (``IndexFlatIP``) that the HNSW search returns."""
    queries = np.ascontiguousarray(np.atleast_2d(queries), np.float32)
    k = min(k, len(index.item_ids))
    exact = faiss.IndexFlatIP(index.vectors.shape[1])
    exact.add(index.vectors)
    _, truth = exact.search(queries, k)
    found, _ = index.search(queries, k)
    truth_ids = index.item_ids[truth]
    return float(np.mean([len(np.intersect1d(t, f)) / k for t, f in zip(truth_ids, found)]))
