"""The two-stage scorer: HNSW retrieval, feature assembly, MMoE ranking, popularity fallback.

A request is served in three timed stages -- ``retrieve`` (top ``n_candidates`` by inner
product of the user vector with the item vectors), ``features`` (the candidates' rows from
the in-memory snapshot) and ``rank`` (the MMoE's click score; the top ``k`` are returned,
best first) -- and ``total`` end to end.

Fallback: before ranking, if the time spent so far plus the recent ranking time (an
exponential moving average, halved at each skip so that ranking is retried) would exceed
``budget_ms``, ranking is skipped; after ranking,
a list that arrives past the budget is discarded (Python cannot pre-empt a running torch
call; a production server would time the call out). In both cases, and whenever any stage
raises, the response is the popularity ranking (the stored popularity model's click rate
over the catalog) with status ``"fallback"``; otherwise status is ``"ok"``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from receval.models.features import FeatureMatrix
from receval.models.popularity import PopularityModel
from receval.serving.retrieval import Factors, HNSWIndex
from receval.serving.shadow import ShadowJob, ShadowWorker
from receval.serving.snapshot import Snapshot

__all__ = ["Request", "Response", "TwoStageScorer", "STAGES"]

STAGES = ("retrieve", "features", "rank", "total")


@dataclass(frozen=True)
class Request:
    """One ranked list to serve."""

    request_id: int
    user_id: int
    device: str
    hour_of_day: int
    ts: datetime


@dataclass
class Response:
    """What was served: ``item_ids`` best first with their ``scores``.

    ``latency_ms`` holds each stage that ran and ``total``; ``features`` the encoded rows
    of the served items (None on fallback); ``reason`` why a fallback happened.
    """

    request: Request
    item_ids: np.ndarray
    scores: np.ndarray
    status: str
    model_id: str
    latency_ms: dict[str, float] = field(default_factory=dict)
    features: FeatureMatrix | None = None
    reason: str | None = None


class _OverBudget(Exception):
    pass


class TwoStageScorer:
    """Serve requests with retrieval + ranking, falling back to popularity.

    Parameters
    ----------
    index : HNSWIndex
        Item vectors (ids = the catalog).
    factors : Factors
        Gives the user's query vector.
    snapshot : Snapshot
        Encoded with the ranker's encoder.
    ranker : object
        ``score(matrix) -> ndarray`` (e.g. :class:`~receval.serving.ranker.MMoERanker`).
    popularity : PopularityModel
        The fallback ranking.
    model_id, fallback_model_id : str
        Logged as the serving policy of ok and fallback responses.
    n_candidates : int, default 1000
    k : int, default 50
    budget_ms : float, default 100
        End-to-end latency budget.
    shadow : ShadowWorker, optional
        Receives every request's candidates after the response is built.
    """

    def __init__(self, index: HNSWIndex, factors: Factors, snapshot: Snapshot, ranker, popularity: PopularityModel,
                 *, model_id: str, fallback_model_id: str = "popularity", n_candidates: int = 1000, k: int = 50,
                 budget_ms: float = 100.0, shadow: ShadowWorker | None = None):
        if not 1 <= k <= n_candidates:
            raise ValueError(f"need 1 <= k <= n_candidates, got k={k}, n_candidates={n_candidates}")
        if budget_ms <= 0:
            raise ValueError(f"budget_ms must be > 0, got {budget_ms}")
        self.index, self.factors, self.snapshot, self.ranker = index, factors, snapshot, ranker
        self.model_id, self.fallback_model_id = model_id, fallback_model_id
        self.n_candidates, self.k, self.budget_ms, self.shadow = n_candidates, k, budget_ms, shadow
        rates = popularity.predict(index.item_ids)["click"]
        top = np.argsort(-rates, kind="stable")[:k]
        self._popular = (index.item_ids[top], rates[top])
        self._rank_ms = 0.0  # moving average of the ranking stage
        self._warm_up()

    def _warm_up(self) -> None:
        """Score one full candidate batch so that torch's first-call set-up (allocator,
        kernels: tens of ms) is not charged to the first request."""
        rows = self.index.item_ids[:self.n_candidates]
        user = int(self.snapshot.user_ids[0]) if len(self.snapshot.user_ids) else -1
        try:
            self.ranker.score(self.snapshot.assemble(user, rows, device="unknown", hour_of_day=0))
        except Exception:  # noqa: BLE001 -- a failing ranker shows (and falls back) per request
            pass

    def serve(self, request: Request) -> Response:
        """Serve one request (never raises: any failure falls back)."""
        start = time.perf_counter()
        latency: dict[str, float] = {}
        candidates = None

        def lap(stage: str, since: float) -> float:
            now = time.perf_counter()
            latency[stage] = (now - since) * 1e3
            return now

        try:
            query = self.factors.user_vector(request.user_id)
            ids, _ = self.index.search(query, self.n_candidates)
            candidates = ids[0][ids[0] >= 0]
            t = lap("retrieve", start)
            matrix = self.snapshot.assemble(request.user_id, candidates, device=request.device,
                                            hour_of_day=request.hour_of_day)
            t = lap("features", t)
            if (t - start) * 1e3 + self._rank_ms > self.budget_ms:
                # halve the estimate so that ranking is tried again soon: a skipped stage
                # measures nothing, and one slow call must not disable ranking for good
                self._rank_ms *= 0.5
                raise _OverBudget("ranking would exceed the budget")
            scores = np.asarray(self.ranker.score(matrix), np.float64)
            t = lap("rank", t)
            self._rank_ms = latency["rank"] if not self._rank_ms else 0.9 * self._rank_ms + 0.1 * latency["rank"]
            if (t - start) * 1e3 > self.budget_ms:
                raise _OverBudget("ranking finished past the budget")
            top = np.argsort(-scores, kind="stable")[:self.k]
            response = Response(request, candidates[top], scores[top], "ok", self.model_id, latency,
                                FeatureMatrix(matrix.categorical[top], matrix.dense[top], matrix.raw_dense[top]))
        except Exception as exc:  # noqa: BLE001 -- serving must answer; the reason is logged
            items, rates = self._popular
            response = Response(request, items, rates, "fallback", self.fallback_model_id, latency,
                                reason=f"{type(exc).__name__}: {exc}")
        latency["total"] = (time.perf_counter() - start) * 1e3
        if self.shadow is not None and candidates is not None:
            self.shadow.submit(ShadowJob(request.request_id, request.user_id, candidates, request.device,
                                         request.hour_of_day, request.ts))
        return response
