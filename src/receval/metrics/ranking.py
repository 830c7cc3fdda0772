r"""Ranking metrics per request: NDCG@K, MRR and recall@K of the logged list
re-ranked by a model's scores, averaged over requests with a CLT (or
cluster-robust, or group-bootstrap) interval, and paired deltas against a
baseline model.

Inputs are flat arrays, one row per (request, item), in any order:
``group_ids`` (request_id: the list of a row), ``scores`` (the model's score), ``relevance`` (graded:
purchase = 2 > click = 1 > no engagement = 0; any non-negative number is
accepted).

Conventions
-----------
* **Gain** ``gain="exponential"`` (default): :math:`g = 2^{rel} - 1` (Burges et
  al., 2005), so a purchase (3) outweighs a click (1). ``gain="linear"``:
  :math:`g = rel` (what ``sklearn.metrics.ndcg_score`` uses on the relevance it
  is given).
* **Discount** :math:`D(r) = 1 / \log_2(r + 1)` for the 1-based rank ``r``; rank
  ``r > K`` gets 0. If a list has fewer than ``K`` items, all of them count.
* **DCG@K** :math:`= \sum_{r \le K} g_{(r)} D(r)`; **ideal DCG@K** sorts the
  *same* list by relevance; **NDCG@K** :math:`= DCG@K / IDCG@K`.
* **Relevant** means ``relevance > 0``. **MRR** is :math:`1/r_1` with
  :math:`r_1` the rank of the first relevant item (no cutoff). **Recall@K** is
  (#relevant in the top ``K``) / (#relevant in the list).
* **Ties in scores** (``ties="average"``, default): the metric is its
  expectation over a uniformly random order of the tied items (McSherry and
  Najork, 2008). For DCG each item of a tie block gets the block's mean gain
  times the sum of the discounts of the block's positions -- identical to
  ``sklearn.metrics.ndcg_score(ignore_ties=False)``; recall counts a block
  that straddles the cutoff pro rata; MRR takes the exact expectation of
  :math:`1/r_1` within the first block holding a relevant item. The result
  does not depend on the input row order. ``ties="pessimistic"`` /
  ``"optimistic"`` put tied relevant items last / first instead.
* **Requests with no relevant item** have IDCG = 0: NDCG, MRR and recall are
  undefined for them. They are *excluded* from the mean, and counted in the
  result's ``n_excluded`` (``n`` = requests that entered the mean).

Speed: rows are grouped by request (already-grouped input, rows of a request
contiguous as the marts write them, skips the group sort), then laid out as
a padded (requests x list length) matrix in buckets of similar list length and
sorted row-wise, so every step is a vectorised numpy operation; there is no
per-request Python loop.

References
----------
Jaervelin, K. and Kekaelaeinen, J. (2002). Cumulated gain-based evaluation of IR
techniques. *ACM TOIS* 20(4), 422-446.

Burges, C. et al. (2005). Learning to rank using gradient descent. *ICML*.

McSherry, F. and Najork, M. (2008). Computing information retrieval
performance measures efficiently in the presence of tied scores. *ECIR*.

Voorhees, E. M. (1999). The TREC-8 question answering track report. (MRR)
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from receval import _validation as v
from .results import MetricResult, undefined
from .uncertainty import bootstrap_group_counts, bootstrap_result, mean_with_clt, paired_mean_delta

__all__ = [
    "PerRequestMetrics",
    "per_request_metrics",
    "ndcg_at_k",
    "mrr",
    "recall_at_k",
    "ranking_metrics",
    "ranking_deltas",
]

_TIES = ("average", "pessimistic", "optimistic")
_GAINS = ("exponential", "linear")
_CHUNK_CELLS = 1 << 22  # padded cells per vectorised chunk (bounds memory)


@dataclass(frozen=True)
class PerRequestMetrics:
    """Per-request metric values (NaN where undefined: no relevant item).

    Attributes
    ----------
    group_ids : ndarray
        The distinct request ids, in the order of ``values`` arrays.
    n_items, n_relevant : ndarray of int
        List length and number of relevant items (``relevance > 0``) per request.
    values : dict of str -> ndarray
        ``"ndcg@K"``, ``"recall@K"``, ``"mrr"``; NaN for requests with no
        relevant item.
    """

    group_ids: np.ndarray
    n_items: np.ndarray
    n_relevant: np.ndarray
    values: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_undefined(self) -> int:
        return int((self.n_relevant == 0).sum())

    def to_frame(self):
        import pandas as pd
        return pd.DataFrame({"group_id": self.group_ids, "n_items": self.n_items,
                             "n_relevant": self.n_relevant, **self.values})


def _n_threads(n_threads: int | None, n_tasks: int) -> int:
    if n_threads is None:
        n_threads = min(8, os.cpu_count() or 1)
    n_threads = v.check_int(n_threads, "n_threads", minimum=1)
    return max(1, min(n_threads, n_tasks))


def _check_ks(k: int | Iterable[int]) -> tuple[list[int], bool]:
    if isinstance(k, (int, np.integer)) and not isinstance(k, bool):
        return [v.check_int(k, "k", minimum=1)], True
    try:
        ks = list(k)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(f"`k` must be a positive int or a list of them, got {k!r}") from None
    if not ks:
        raise ValueError("`k` is an empty list")
    return [v.check_int(x, "k", minimum=1) for x in ks], False


def _as_relevance(x: Any, name: str = "relevance") -> np.ndarray:
    """Non-negative finite relevance. Integer grades up to 62 are kept as int8
    (cheaper to sort and gather; gains by table look-up), anything else float64."""
    arr = v.as_1d(x, name)
    if np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool:
        if arr.size and arr.min() < 0:
            raise ValueError(f"`{name}` must be >= 0 (graded: 0 none, 1 click, 2 purchase), "
                             f"found {int((arr < 0).sum())} negative value(s)")
        if arr.size == 0 or arr.max() <= 62:
            return arr.astype(np.int8, copy=False)
    r = v.check_finite(arr, name, min_size=0)
    if r.size and r.min() < 0:
        raise ValueError(f"`{name}` must be >= 0 (graded: 0 none, 1 click, 2 purchase), "
                         f"found {int((r < 0).sum())} negative value(s)")
    return r


_EXP_GAIN = np.exp2(np.arange(63, dtype=np.float64)) - 1.0


def _gain(rel: np.ndarray, gain: str) -> np.ndarray:
    if rel.dtype == np.int8:
        return _EXP_GAIN[rel] if gain == "exponential" else rel.astype(np.float64)
    return np.exp2(rel) - 1.0 if gain == "exponential" else rel


def _chunk_metrics(s: np.ndarray, rel: np.ndarray, gain: str, ks: list[int], ties: str,
                   want: set[str], full: bool = False) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """All metrics for one padded chunk: rows = requests, padding has score -inf
    (sorts last, never tied with a real, finite score) and relevance 0."""
    nr, w = s.shape
    if ties == "average":
        # ascending argsort reversed = descending; the order inside a tie block is
        # irrelevant because tied items are averaged below
        order = np.argsort(s, axis=1)[:, ::-1]
    else:  # break ties by relevance: pessimistic = relevant last
        order = np.lexsort((rel if ties == "pessimistic" else -rel, -s), axis=1)
    n_rel = np.count_nonzero(rel > 0, axis=1).astype(np.float64)
    need_rel = "recall" in want or "mrr" in want
    kmax = min(max(ks), w)
    # Only the top kmax (+1 to see a tie block straddling the cutoff) sorted
    # columns matter for NDCG@K / recall@K -- unless there is a tie among them,
    # then the whole row is used (a tie block's mean needs all its members).
    wc = w if ("mrr" in want or full) else min(kmax + 1, w)
    rowoff = np.arange(nr, dtype=np.int64) * w
    flat = (order[:, :wc] + rowoff[:, None]).ravel()
    ss = s.ravel()[flat]
    first = np.empty(nr * wc, dtype=bool)
    f2 = first.reshape(nr, wc)
    f2[:, 0] = True
    if ties == "average":
        np.not_equal(ss.reshape(nr, wc)[:, 1:], ss.reshape(nr, wc)[:, :-1], out=f2[:, 1:])
    else:
        f2[:, 1:] = True
    has_ties = not first.all()
    redo = None
    if has_ties and wc < w:
        # rows with a tie among their top columns: recompute them on full rows
        redo = np.flatnonzero(~f2.all(axis=1))
        first[:] = True
        has_ties = False
    rs = rel.ravel()[flat]
    gs = _gain(rs, gain)
    if need_rel:
        isrel = (rs > 0).astype(np.float64)
    if has_ties:
        # tie blocks: every item gets its block's mean gain / mean relevant count
        fidx = np.flatnonzero(first)
        sizes = np.diff(fidx, append=nr * wc)
        bid = np.cumsum(first) - 1
        mean_gain = (np.add.reduceat(gs, fidx) / sizes)[bid]
        if need_rel:
            brel = np.add.reduceat(isrel, fidx)
            mean_rel = (brel / sizes)[bid]
    else:
        mean_gain = gs
        if need_rel:
            mean_rel = isrel
    mean_gain = mean_gain.reshape(nr, wc)
    if need_rel:
        mean_rel = mean_rel.reshape(nr, wc)
    rowoff = np.arange(nr, dtype=np.int64) * wc  # offsets in the gathered (nr, wc) arrays
    out: dict[str, np.ndarray] = {}
    kmax = min(max(ks), w)
    if "ndcg" in want:
        # the same list sorted by relevance (gain is monotone in relevance)
        ideal = _gain(np.sort(rel, axis=1)[:, ::-1][:, :kmax], gain)
    disc_all = 1.0 / np.log2(np.arange(kmax) + 2.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        for k in ks:
            kk = min(k, w)
            if "ndcg" in want:
                d = disc_all[:kk]
                dcg = mean_gain[:, :kk] @ d
                idcg = ideal[:, :kk] @ d
                out[f"ndcg@{k}"] = np.where(idcg > 0, dcg / idcg, np.nan)
            if "recall" in want:
                out[f"recall@{k}"] = np.where(n_rel > 0, mean_rel[:, :kk].sum(axis=1) / n_rel, np.nan)
        if "mrr" in want:
            has = n_rel > 0
            p1 = np.argmax(rs.reshape(nr, w) > 0, axis=1)  # first relevant (sorted) position
            if not has_ties:
                out["mrr"] = np.where(has, 1.0 / (p1 + 1.0), np.nan)
            else:
                b1 = bid[rowoff + p1]
                a = (fidx[b1] - rowoff).astype(np.float64)  # block start, 0-based
                m = sizes[b1].astype(np.float64)            # block size
                r = np.maximum(brel[b1], 1.0)               # relevant items in the block
                # J = 1-based position of the first relevant item inside the block:
                # P(J=1) = r/m, P(J=j+1) = P(J=j) (m-j-r+1)/(m-j);  MRR_q = E[1/(a+J)]
                mb = int(m[has].max()) if has.any() else 1
                j = np.arange(1, mb + 1, dtype=np.float64)[None, :]
                mm, rr, aa = m[:, None], r[:, None], a[:, None]
                ratio = np.where(mm - j > 0, (mm - j - rr + 1) / (mm - j), 0.0)
                ratio = np.clip(ratio, 0.0, 1.0)
                prob = np.empty_like(ratio)
                prob[:, 0] = r / m
                if mb > 1:
                    prob[:, 1:] = prob[:, :1] * np.cumprod(ratio[:, :-1], axis=1)
                out["mrr"] = np.where(has, (prob / (aa + j)).sum(axis=1), np.nan)
    if redo is not None:
        sub, _ = _chunk_metrics(s[redo], rel[redo], gain, ks, ties, want, full=True)
        for nm, vals in sub.items():
            out[nm][redo] = vals
    return out, n_rel


def per_request_metrics(group_ids: Any, scores: Any, relevance: Any, *, k: int | Sequence[int] = 10,
                        metrics: Sequence[str] = ("ndcg", "mrr", "recall"),
                        gain: str = "exponential", ties: str = "average",
                        n_threads: int | None = None) -> PerRequestMetrics:
    """Per-request NDCG@K, MRR and recall@K (see the module docstring for the
    conventions). Vectorised; returns NaN for requests with no relevant item.

    Parameters
    ----------
    group_ids : array-like, shape (n,)
        Request id of each row (any hashable numpy dtype: ints, strings).
    scores : array-like of float, shape (n,)
        The model's scores (finite); higher ranks first.
    relevance : array-like of float >= 0, shape (n,)
        Graded relevance (purchase = 2, click = 1, none = 0).
    k : int or sequence of int, default 10
    metrics : subset of ("ndcg", "mrr", "recall")
    gain : {"exponential", "linear"}
    ties : {"average", "pessimistic", "optimistic"}
    n_threads : int, optional
        Threads over chunks of requests (default: the CPU count, at most 8).
    """
    ks, _ = _check_ks(k)
    if gain not in _GAINS:
        raise ValueError(f"`gain` must be one of {_GAINS}, got {gain!r}")
    if ties not in _TIES:
        raise ValueError(f"`ties` must be one of {_TIES}, got {ties!r}")
    want = set(metrics)
    if not want or not want <= {"ndcg", "mrr", "recall"}:
        raise ValueError(f"`metrics` must be a non-empty subset of ('ndcg', 'mrr', 'recall'), got {metrics!r}")
    raw_groups = v.as_1d(group_ids, "group_ids")
    s = v.check_finite(scores, "scores", min_size=0)
    rel = _as_relevance(relevance)
    if not (raw_groups.size == s.size == rel.size):
        raise ValueError(f"length mismatch: `group_ids` has {raw_groups.size}, `scores` has {s.size}, "
                         f"`relevance` has {rel.size}")
    n = s.size
    names = [f"{m}@{kk}" for m in ("ndcg", "recall") if m in want for kk in ks]
    if "mrr" in want:
        names.append("mrr")
    if n == 0:
        e = np.zeros(0)
        return PerRequestMetrics(raw_groups[:0], e.astype(np.int64), e.astype(np.int64),
                                 {nm: e.copy() for nm in names})
    numeric = np.issubdtype(raw_groups.dtype, np.number)
    if numeric and np.issubdtype(raw_groups.dtype, np.floating) and np.isnan(raw_groups).any():
        raise ValueError(f"`group_ids` contains {int(np.isnan(raw_groups).sum())} NaN/null id(s)")
    if numeric and (raw_groups[1:] >= raw_groups[:-1]).all():
        raw_sorted = raw_groups            # already grouped (sorted ids): no sort, no codes
    else:
        codes, _ = v.group_codes(raw_groups, "group_ids", sort=True)
        order = np.argsort(codes, kind="stable")
        s, rel, raw_sorted = s[order], rel[order], raw_groups[order]
    brk = np.flatnonzero(raw_sorted[1:] != raw_sorted[:-1]) + 1
    starts = np.concatenate(([0], brk, [n])).astype(np.int64)
    lengths = np.diff(starts)
    n_groups = lengths.size
    distinct_ids = raw_sorted[starts[:-1]]
    values = {nm: np.full(n_groups, np.nan) for nm in names}
    n_rel_all = np.zeros(n_groups, dtype=np.int64)
    # buckets of similar length: widths up to 2x the shortest list in the bucket;
    # each bucket is cut into chunks of <= _CHUNK_CELLS padded cells
    bucket = np.ceil(np.log2(np.maximum(lengths, 1))).astype(np.int64)
    tasks = []
    for b in np.unique(bucket):
        gidx = np.flatnonzero(bucket == b)
        w = int(lengths[gidx].max())
        step = max(1, _CHUNK_CELLS // w)
        tasks.extend((gidx[c0:c0 + step], w) for c0 in range(0, gidx.size, step))

    def run(task):
        gi, w = task
        ln = lengths[gi]
        if gi[-1] - gi[0] + 1 == gi.size and (ln == w).all():
            lo, hi = starts[gi[0]], starts[gi[-1] + 1]   # contiguous, full rows: a view
            ms = s[lo:hi].reshape(gi.size, w)
            mr = rel[lo:hi].reshape(gi.size, w)
        else:
            row = np.repeat(np.arange(gi.size), ln)
            col = np.arange(row.size) - np.repeat(np.cumsum(ln) - ln, ln)
            src = np.repeat(starts[gi], ln) + col
            ms = np.full((gi.size, w), -np.inf)
            mr = np.zeros((gi.size, w), dtype=rel.dtype)
            ms[row, col] = s[src]
            mr[row, col] = rel[src]
        out, n_rel = _chunk_metrics(ms, mr, gain, ks, ties, want)
        for nm, vals in out.items():
            values[nm][gi] = vals
        n_rel_all[gi] = n_rel.astype(np.int64)

    n_threads = _n_threads(n_threads, len(tasks))
    if n_threads == 1:
        for task in tasks:
            run(task)
    else:  # numpy releases the GIL in sorts, gathers and ufuncs
        with ThreadPoolExecutor(n_threads) as pool:
            list(pool.map(run, tasks))
    return PerRequestMetrics(distinct_ids, lengths.astype(np.int64), n_rel_all, values)


def _cluster_of_groups(clusters: Any, group_ids: Any, n: int) -> np.ndarray:
    """Cluster id per request (first row of each request, request order as in
    per_request_metrics); checks that it is constant within a request."""
    c = v.as_1d(clusters, "clusters")
    if c.size != n:
        raise ValueError(f"length mismatch: `group_ids` has {n}, `clusters` has {c.size}")
    codes, g = v.group_codes(group_ids, "group_ids", sort=True)
    ccodes, _ = v.group_codes(c, "clusters", sort=True)
    first = np.full(g, -1, dtype=np.int64)
    first[codes[::-1]] = ccodes[::-1]
    if (first[codes] != ccodes).any():
        raise ValueError("`clusters` must be constant within each request (e.g. the request's user_id)")
    return first


def _summarise(name: str, values: np.ndarray, clusters_g: np.ndarray | None, n_bootstrap: int,
               random_state: Any, alpha: float) -> MetricResult:
    defined = ~np.isnan(values)
    n_excl = int((~defined).sum())
    if values.size == 0:
        return undefined(name, "empty input", alpha=alpha)
    if not defined.any():
        return undefined(name, "undefined: no request has a relevant item (relevance > 0)",
                         n_excluded=n_excl, alpha=alpha)
    if n_bootstrap and n_bootstrap > 0:
        vv = values[defined]
        cl = clusters_g[defined] if clusters_g is not None else np.arange(vv.size)
        codes, nc = v.group_codes(cl, "clusters", sort=True)
        sums = np.bincount(codes, weights=vv, minlength=nc)
        cnts = np.bincount(codes, minlength=nc).astype(np.float64)
        reps = np.array([(c @ sums) / (c @ cnts) for c in bootstrap_group_counts(nc, n_bootstrap, random_state)])
        return bootstrap_result(name, float(vv.mean()), reps, n=int(vv.size), n_groups=nc,
                                alpha=alpha, n_excluded=n_excl)
    return mean_with_clt(values, name=name, group_ids=clusters_g, alpha=alpha,
                         bounds=(0.0, 1.0))


def ranking_metrics(group_ids: Any, scores: Any, relevance: Any, *, k: int | Sequence[int] = 10,
                    metrics: Sequence[str] = ("ndcg", "mrr", "recall"),
                    gain: str = "exponential", ties: str = "average", clusters: Any = None,
                    n_bootstrap: int = 0, random_state: Any = 0,
                    alpha: float = 0.05) -> dict[str, MetricResult]:
    r"""Mean NDCG@K / MRR / recall@K over requests, each with its interval.

    Each metric is the mean over requests with at least one relevant item of
    the per-request value (:func:`per_request_metrics`). Standard error:

    * default: CLT over requests, :math:`s/\sqrt{n}`;
    * ``clusters`` (one id per row, constant within a request, e.g. user_id):
      cluster-robust standard error over clusters;
    * ``n_bootstrap > 0``: percentile bootstrap over clusters (or requests),
      vectorised on per-cluster sums, seeded by ``random_state``.

    Returns
    -------
    dict of str -> MetricResult
        Keys ``"ndcg@K"``, ``"recall@K"`` for every K, and ``"mrr"``. ``n`` =
        requests in the mean, ``n_excluded`` = requests with no relevant item.
    """
    alpha = v.check_alpha(alpha)
    n_bootstrap = v.check_int(n_bootstrap, "n_bootstrap", minimum=0)
    pr = per_request_metrics(group_ids, scores, relevance, k=k, metrics=metrics, gain=gain, ties=ties)
    cg = None
    if clusters is not None:
        cg = _cluster_of_groups(clusters, group_ids, len(v.as_1d(group_ids, "group_ids")))
    return {nm: _summarise(nm, vals, cg, n_bootstrap, random_state, alpha) for nm, vals in pr.values.items()}


def _single(metric: str, group_ids, scores, relevance, k, **kw):
    ks, scalar = _check_ks(k) if k is not None else ([1], True)
    res = ranking_metrics(group_ids, scores, relevance, k=ks, metrics=(metric,), **kw)
    if metric == "mrr":
        return res["mrr"]
    out = {kk: res[f"{metric}@{kk}"] for kk in ks}
    return out[ks[0]] if scalar else out


def ndcg_at_k(group_ids: Any, scores: Any, relevance: Any, k: int | Sequence[int] = 10, *,
              gain: str = "exponential", ties: str = "average", clusters: Any = None,
              n_bootstrap: int = 0, random_state: Any = 0, alpha: float = 0.05,
              ) -> MetricResult | dict[int, MetricResult]:
    r"""Mean NDCG@K over requests.

    .. math::

        NDCG@K = \frac{\sum_{r=1}^{K} (2^{rel_{(r)}} - 1)/\log_2(r+1)}
                      {\sum_{r=1}^{K} (2^{rel^*_{(r)}} - 1)/\log_2(r+1)}

    with :math:`rel_{(r)}` the relevance at rank ``r`` by score and
    :math:`rel^*` the same list sorted by relevance; ties in scores averaged
    (module docstring). Requests with no relevant item are excluded and counted
    in ``n_excluded``. ``k`` an int gives one :class:`MetricResult`, a list a
    ``dict`` keyed by K. Interval options as in :func:`ranking_metrics`.

    References
    ----------
    Jaervelin and Kekaelaeinen (2002); Burges et al. (2005).
    """
    return _single("ndcg", group_ids, scores, relevance, k, gain=gain, ties=ties, clusters=clusters,
                   n_bootstrap=n_bootstrap, random_state=random_state, alpha=alpha)


def recall_at_k(group_ids: Any, scores: Any, relevance: Any, k: int | Sequence[int] = 10, *,
                ties: str = "average", clusters: Any = None, n_bootstrap: int = 0,
                random_state: Any = 0, alpha: float = 0.05,
                ) -> MetricResult | dict[int, MetricResult]:
    r"""Mean recall@K: :math:`|\{\text{relevant in top } K\}| / |\{\text{relevant}\}|`
    per request, averaged over requests with a relevant item (relevant =
    ``relevance > 0``). A tie block straddling the cutoff counts pro rata."""
    return _single("recall", group_ids, scores, relevance, k, ties=ties, clusters=clusters,
                   n_bootstrap=n_bootstrap, random_state=random_state, alpha=alpha)


def mrr(group_ids: Any, scores: Any, relevance: Any, *, ties: str = "average", clusters: Any = None,
        n_bootstrap: int = 0, random_state: Any = 0, alpha: float = 0.05) -> MetricResult:
    r"""Mean reciprocal rank :math:`\frac1{|Q|}\sum_q 1/r_1(q)` of the first
    relevant item (``relevance > 0``), no cutoff (Voorhees, 1999). With tied
    scores, :math:`E[1/r_1]` over random orders of the tied items."""
    return _single("mrr", group_ids, scores, relevance, None, ties=ties, clusters=clusters,
                   n_bootstrap=n_bootstrap, random_state=random_state, alpha=alpha)


def ranking_deltas(group_ids: Any, scores: Any, scores_baseline: Any, relevance: Any, *,
                   k: int | Sequence[int] = 10,
                   metrics: Sequence[str] = ("ndcg", "mrr", "recall"),
                   gain: str = "exponential", ties: str = "average", clusters: Any = None,
                   n_bootstrap: int = 0, random_state: Any = 0,
                   alpha: float = 0.05) -> dict[str, MetricResult]:
    r"""Paired differences model - baseline of the ranking metrics on the same
    requests: :math:`\hat\Delta = \frac1n\sum_q (m_q^{A} - m_q^{B})`.

    Both models re-rank the same logged lists, so the same requests are
    defined (or excluded) for both. Standard error: CLT of the per-request
    differences (cluster-robust with ``clusters``), or with ``n_bootstrap > 0`` a
    paired percentile bootstrap (the same resamples for both models). Keys are
    ``"delta_ndcg@K"`` etc.; ``extra`` holds ``model`` and ``baseline`` means.
    """
    alpha = v.check_alpha(alpha)
    pa = per_request_metrics(group_ids, scores, relevance, k=k, metrics=metrics, gain=gain, ties=ties)
    pb = per_request_metrics(group_ids, scores_baseline, relevance, k=k, metrics=metrics, gain=gain,
                             ties=ties)
    cg = None
    if clusters is not None:
        cg = _cluster_of_groups(clusters, group_ids, len(v.as_1d(group_ids, "group_ids")))
    out = {}
    for nm in pa.values:
        a, b = pa.values[nm], pb.values[nm]
        if n_bootstrap and n_bootstrap > 0:
            res = _summarise(f"delta_{nm}", a - b, cg, n_bootstrap, random_state, alpha)
            both = ~np.isnan(a - b)
            from dataclasses import replace
            if both.any():
                res = replace(res, extra={**res.extra, "model": float(a[both].mean()),
                                          "baseline": float(b[both].mean())})
            out[f"delta_{nm}"] = res
        else:
            if np.isnan(a).all():
                out[f"delta_{nm}"] = undefined(
                    f"delta_{nm}", "undefined: no request has a relevant item (relevance > 0)"
                    if a.size else "empty input", n_excluded=int(a.size), alpha=alpha)
                continue
            res = paired_mean_delta(a, b, name=f"delta_{nm}", group_ids=cg, alpha=alpha)
            out[f"delta_{nm}"] = res
    return out
