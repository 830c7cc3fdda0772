"""Calibration maps fitted on validation rows and applied to later ones.

A ranking model's raw score orders items but need not be a probability (trained on a
re-weighted sample, early-stopped, or a popularity count). Two classic maps:

* Platt scaling (Platt 1999): ``p = sigmoid(a * logit(s) + b)``, a logistic regression on
  the score's logit -- two parameters, smooth, monotone.
* Isotonic regression (Zadrozny & Elkan 2002): the monotone step function of best fit,
  interpolated linearly between its knots -- no shape assumption, needs more data.

Both keep the order of the scores (ties aside), so ranking metrics are unchanged and only
log-loss, Brier and ECE move. A map serialises to a small dict stored in the model's
manifest.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

__all__ = ["Calibrator", "fit_calibrator"]

_EPS = 1e-6
METHODS = ("platt", "isotonic")


@dataclass(frozen=True)
class Calibrator:
    """A fitted map from raw score to calibrated probability."""

    method: str
    params: dict

    def apply(self, scores: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of ``scores``."""
        scores = np.asarray(scores, dtype=float)
        if self.method == "platt":
            z = self.params["a"] * logit(scores) + self.params["b"]
            return 1.0 / (1.0 + np.exp(-z))
        return np.interp(scores, self.params["x"], self.params["y"])

    def to_dict(self) -> dict:
        return {"method": self.method, **self.params}

    @classmethod
    def from_dict(cls, spec: dict) -> "Calibrator":
        spec = dict(spec)
        return cls(spec.pop("method"), spec)


def fit_calibrator(scores: np.ndarray, labels: np.ndarray, method: str = "platt",
                   weights: np.ndarray | None = None) -> Calibrator:
    """Fit a calibration map on held-out rows.

    Parameters
    ----------
    scores : array of float in [0, 1]
        Raw model scores (probability-like; Platt takes their logit).
    labels : array of {0, 1}
        Observed outcomes.
    method : {"platt", "isotonic"}
    weights : array of float, optional
        Row weights (0 drops a row, e.g. an immature conversion label).
    """
    if method not in METHODS:
        raise ValueError(f"calibration method must be one of {METHODS}, got {method!r}")
    scores = np.asarray(scores, dtype=float)
    labels = np.asarray(labels, dtype=float)
    if scores.shape != labels.shape or scores.ndim != 1:
        raise ValueError(f"scores and labels must be 1-d of equal length, got {scores.shape} and {labels.shape}")
    weights = np.ones_like(scores) if weights is None else np.asarray(weights, dtype=float)
    keep = (weights > 0) & np.isfinite(scores)
    if len(np.unique(labels[keep])) < 2:
        raise ValueError("calibration needs both classes among the weighted validation rows")
    if method == "platt":
        fit = LogisticRegression(C=1e6, max_iter=1000)
        fit.fit(logit(scores[keep])[:, None], labels[keep], sample_weight=weights[keep])
        return Calibrator("platt", {"a": float(fit.coef_[0, 0]), "b": float(fit.intercept_[0])})
    fit = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
    fit.fit(scores[keep], labels[keep], sample_weight=weights[keep])
    return Calibrator("isotonic", {"x": fit.X_thresholds_.tolist(), "y": fit.y_thresholds_.tolist()})


def logit(p: np.ndarray) -> np.ndarray:
    """Log-odds of probabilities clipped into [1e-6, 1 - 1e-6] (finite for 0 and 1)."""
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p) - np.log1p(-p)
