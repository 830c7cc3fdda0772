"""Shadow scoring: a challenger scores the champion's candidates off the critical path.

The server only puts a job on a queue (microseconds) and returns its response; a daemon
worker thread assembles the challenger's features (with the challenger's own encoder),
scores them and logs the scores with the challenger's latency. Its work shares the cores
with serving, so the worker lowers its own thread's CPU priority (Linux: a per-thread nice
value, inherited by any worker threads it starts): on a contended core the served path
runs first. The champion's tail latency with a shadow running is measured, not assumed
(docs/serving.md).
"""
from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from receval.serving.snapshot import Snapshot

__all__ = ["ShadowJob", "ShadowRecord", "ShadowWorker"]


@dataclass(frozen=True)
class ShadowJob:
    """The champion's candidates of one request, and the request context."""

    request_id: int
    user_id: int
    item_ids: np.ndarray
    device: str
    hour_of_day: int
    ts: datetime


@dataclass(frozen=True)
class ShadowRecord:
    """The challenger's scores of one request's candidates (``error`` set if it failed)."""

    request_id: int
    model_id: str
    item_ids: np.ndarray
    scores: np.ndarray
    latency_ms: float
    ts: datetime
    error: str | None = None


class ShadowWorker:
    """A background thread that scores submitted jobs with a challenger.

    Parameters
    ----------
    challenger : object
        Has ``model_id`` and ``score(matrix, item_ids) -> ndarray`` (e.g.
        :class:`~receval.serving.ranker.StoredRanker`).
    snapshot : Snapshot
        The snapshot encoded with the challenger's encoder.
    max_queue : int, default 0
        Jobs waiting beyond this are dropped and counted in :attr:`dropped` (0 = unbounded,
        so every request is shadowed; bound it where the challenger cannot keep up).
    """

    def __init__(self, challenger, snapshot: Snapshot, max_queue: int = 0):
        self.challenger = challenger
        self.snapshot = snapshot
        self.records: list[ShadowRecord] = []
        self.dropped = 0
        self._queue: queue.Queue[ShadowJob | None] = queue.Queue(max_queue)
        self._thread = threading.Thread(target=self._run, name="shadow-scorer", daemon=True)
        self._thread.start()

    def submit(self, job: ShadowJob) -> None:
        """Enqueue ``job`` without blocking (dropped if the queue is full)."""
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            self.dropped += 1

    def close(self, timeout: float | None = None) -> list[ShadowRecord]:
        """Finish the queued jobs, stop the thread and return every record."""
        self._queue.put(None)
        self._thread.join(timeout)
        return self.records

    def _run(self) -> None:
        # Lowest priority for this thread only (setpriority on a thread id is per-thread on
        # Linux; elsewhere it may not exist, and shadowing then runs at normal priority).
        with contextlib.suppress(OSError, AttributeError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        while (job := self._queue.get()) is not None:
            started = time.perf_counter()
            try:
                matrix = self.snapshot.assemble(job.user_id, job.item_ids, device=job.device,
                                                hour_of_day=job.hour_of_day)
                scores, error = np.asarray(self.challenger.score(matrix, job.item_ids), np.float64), None
            except Exception as exc:  # a failing challenger must never affect serving
                scores, error = np.full(len(job.item_ids), np.nan), f"{type(exc).__name__}: {exc}"
            self.records.append(ShadowRecord(job.request_id, self.challenger.model_id, job.item_ids, scores,
                                             (time.perf_counter() - started) * 1e3, job.ts, error))
