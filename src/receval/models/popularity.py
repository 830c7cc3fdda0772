"""The popularity candidate: every user sees the same score for an item.

Score = the item's smoothed rate over the training window,
``(events_i + m * global_rate) / (impressions_i + m)`` with ``events`` clicks (click task)
or mature purchases (conversion task). An item unseen in training (cold start) gets the
global rate. It is the baseline a personalised model must clearly beat.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from receval.models.features import lookup_sorted

__all__ = ["PopularityModel", "fit_popularity"]


@dataclass
class PopularityModel:
    """Per-item smoothed rates for each task."""

    item_ids: np.ndarray                  # sorted int64
    rates: dict[str, np.ndarray]          # task -> rate per item of item_ids
    global_rates: dict[str, float]
    smoothing: float

    def predict(self, item_ids: np.ndarray) -> dict[str, np.ndarray]:
        item_ids = np.asarray(item_ids, dtype=np.int64)
        pos, known = lookup_sorted(self.item_ids, item_ids)
        return {task: np.where(known, rate[pos], self.global_rates[task]) for task, rate in self.rates.items()}

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "popularity.json").write_text(json.dumps({
            "item_ids": self.item_ids.tolist(), "rates": {t: r.tolist() for t, r in self.rates.items()},
            "global_rates": self.global_rates, "smoothing": self.smoothing,
        }))

    @classmethod
    def load(cls, directory: Path) -> "PopularityModel":
        spec = json.loads((Path(directory) / "popularity.json").read_text())
        return cls(np.asarray(spec["item_ids"], np.int64),
                   {t: np.asarray(r, float) for t, r in spec["rates"].items()},
                   spec["global_rates"], spec["smoothing"])


def fit_popularity(item_ids: np.ndarray, click: np.ndarray, conversion: np.ndarray,
                   conversion_weight: np.ndarray, smoothing: float = 20.0) -> PopularityModel:
    """Fit per-item rates on training impressions (conversion over mature rows only)."""
    if smoothing < 0:
        raise ValueError(f"smoothing must be >= 0, got {smoothing}")
    item_ids = np.asarray(item_ids, dtype=np.int64)
    if not len(item_ids):
        raise ValueError("popularity needs at least one training impression")
    items, inverse = np.unique(item_ids, return_inverse=True)
    rates, global_rates = {}, {}
    for task, events, weight in (("click", click, np.ones(len(item_ids))),
                                 ("conversion", conversion, conversion_weight)):
        weight = np.asarray(weight, float)
        hits = np.bincount(inverse, weights=np.asarray(events, float) * weight, minlength=len(items))
        exposures = np.bincount(inverse, weights=weight, minlength=len(items))
        prior = float(hits.sum() / exposures.sum()) if exposures.sum() > 0 else 0.0
        global_rates[task] = prior
        rates[task] = (hits + smoothing * prior) / np.maximum(exposures + smoothing, 1e-12)
    return PopularityModel(items, rates, global_rates, float(smoothing))
