"""Content-based item embeddings: what an item *is* (category, brand, title words, price), not
what users did with it, so an item with no history still gets a meaningful vector.

Each item becomes a sparse row of TF-IDF-weighted tokens (``cat=...``, ``brand=...``, the
title's words, its price decile), reduced to ``n_components`` dense dimensions by truncated
SVD (latent semantic analysis, Deerwester et al. 1990) and L2-normalised. Nothing here reads
labels or events, so fitting on the whole catalog cannot leak outcomes into the features.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer

from receval.models.features import CONTENT_PREFIX

__all__ = ["item_content_embeddings"]

_PRICE_BINS = 10


def item_content_embeddings(items: pa.Table, n_components: int = 16, seed: int = 0) -> pa.Table:
    """One embedding per item of a catalog.

    Parameters
    ----------
    items : pyarrow.Table
        One row per item with ``item_id``, ``category``, ``brand``, ``title`` and ``price``
        (nulls allowed: a missing attribute contributes no token).
    n_components : int
        Embedding dimension (capped at the vocabulary size minus one).
    seed : int
        Seed of the randomised SVD (the result is deterministic under a seed).

    Returns
    -------
    pyarrow.Table
        ``item_id`` and ``item_content_0 .. item_content_{d-1}`` (float32, unit norm; all
        zeros for an item without any attribute, and for every item of a catalog without
        attributes).
    """
    missing = [c for c in ("item_id", "category", "brand", "title", "price") if c not in items.column_names]
    if missing:
        raise ValueError(f"item catalog is missing columns {missing}")
    if n_components < 1:
        raise ValueError(f"n_components must be >= 1, got {n_components}")
    columns = items.to_pydict()
    documents = [_tokens(*row) for row in zip(columns["category"], columns["brand"], columns["title"],
                                              _price_bins(columns["price"]))]
    if any(documents):
        vectorizer = TfidfVectorizer(analyzer=lambda tokens: tokens, sublinear_tf=True)
        tfidf = vectorizer.fit_transform(documents)
        dim = max(1, min(n_components, tfidf.shape[1] - 1, tfidf.shape[0]))
        dense = TruncatedSVD(dim, algorithm="randomized", random_state=seed).fit_transform(tfidf)
        norms = np.linalg.norm(dense, axis=1, keepdims=True)
        dense = np.divide(dense, norms, out=np.zeros_like(dense), where=norms > 0)
    else:
        # no item has an attribute (a landing zone without items events): no content signal
        dense = np.zeros((items.num_rows, 0))
    # A catalog too small for n_components still yields every promised column (zeros).
    dense = np.pad(dense, ((0, 0), (0, n_components - dense.shape[1]))).astype(np.float32)
    out = {"item_id": items["item_id"]}
    out.update({f"{CONTENT_PREFIX}{j}": pa.array(dense[:, j]) for j in range(n_components)})
    return pa.table(out)


def _tokens(category, brand, title, price_bin) -> list[str]:
    tokens = [f"cat={category}"] if category else []
    tokens += [f"brand={brand}"] if brand else []
    tokens += [f"word={w}" for w in (title or "").lower().split()]
    tokens += [f"price={price_bin}"] if price_bin is not None else []
    return tokens


def _price_bins(prices) -> list[int | None]:
    """Price decile of each item over the catalog (log-price is what matters to a buyer)."""
    values = np.array([np.nan if p is None else p for p in prices], dtype=float)
    known = values[np.isfinite(values)]
    if not len(known):
        return [None] * len(values)
    edges = np.quantile(np.log1p(known), np.linspace(0, 1, _PRICE_BINS + 1)[1:-1])
    bins = np.searchsorted(edges, np.log1p(np.where(np.isfinite(values), values, 0.0)))
    return [int(b) if np.isfinite(v) else None for b, v in zip(bins, values)]
