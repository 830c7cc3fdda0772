r"""Conversion labels under delayed feedback: what the conversion task learns from while the
newest purchases are still to come.

A purchase arrives hours to days after its click (docs/delayed_feedback.md). At the data's
end an impression made :math:`e` hours earlier that will convert (probability
:math:`\pi(x)`) shows its purchase with probability :math:`F(e)`, the delay curve
(:class:`receval.delayed.DelayDistribution`), so its label as observed has
:math:`E[y^{obs} \mid x, e] = \pi(x) F(e)`: the newest rows under-count purchases. The
candidate models take one of four conversion-label methods (:data:`CONVERSION_LABELS`, the
dbt var ``model_conversion_labels``; docs/candidate_models.md has the comparison):

``observed`` (default)
    Every label as observed at the data's end counts as final.
``mature_only``
    Only labels whose attribution window has closed count (weight 0 for the others).
``fnw``
    Fake-negative weighting (Ktena et al. 2019): every impression enters as a negative, a
    converted one is duplicated as a positive, and the loss weighs positives by
    :math:`1 + p` and negatives by :math:`(1 - p)(1 + p)`, :math:`p` the model's own
    prediction with the gradient stopped (:func:`fnw_weights`, :func:`fnw_targets`).
``esdfm``
    Elapsed-time sampling (Yang et al. 2021): a row enters once it is ``c`` hours old, with
    its label then; a purchase arriving later is duplicated as a positive; importance
    weights from an auxiliary model of delayed positives and real negatives
    (:func:`esdfm_weights`, :func:`esdfm_targets`, :class:`EsdfmAuxiliary`).

The two weighted methods are written as per-row coefficients (:class:`ConversionTargets`):
row *i* stands for ``count[i]`` ingested samples and adds
``positive[i] * (-log q_i) + negative[i] * (-log(1 - q_i))`` to the loss, ``q_i`` the
model's pCTCVR, and a batch's loss is the sum over its rows divided by the sum of their
counts -- the mean over ingested samples, as in both papers, with a duplicated positive in
the same batch as its negative (in the papers' stream it comes later; over an epoch the sum
is the same).

**FNW.** The stream holds, for each impression, a negative and, with probability
:math:`\pi`, a positive: :math:`b(y=1 \mid x) = \pi / (1 + \pi)`. The weights
:math:`p(y \mid x) / b(y \mid x)` are :math:`1 + \pi` and :math:`(1 - \pi)(1 + \pi)`, with
the model's :math:`p` (stop-gradient) for :math:`\pi`. Given :math:`x`, at :math:`p = \pi`
and with final labels, :math:`E[\text{coefficients}] = (1 + \pi)\,(\pi, 1 - \pi)` and
:math:`E[\text{count}] = 1 + \pi`, so the expected loss per ingested sample is the
observed cross-entropy :math:`\pi(-\log q) + (1-\pi)(-\log(1-q))` for every prediction
:math:`q`. On a snapshot, however, the positives still to come are missing from FNW's
stream as from the observed labels: for an immature row the stationary point of FNW is
:math:`q = \pi F(e)`, that of ``observed``. FNW removes the bias of its own duplication,
not that of the purchases still to come.

**ES-DFM.** With observation window :math:`c`, the stream of Yang et al. holds per
impression a sample labelled at :math:`c` (positive with probability :math:`\pi F(c)`) and,
for a delayed positive (probability :math:`p_{dp} = \pi (1 - F(c))`), a duplicate positive
when its purchase arrives. Its weights are :math:`w_+ = 1 + p_{dp}` and
:math:`w_- = (1 + p_{dp})\, p_{rn}`, :math:`p_{rn} = (1 - \pi) / (1 - \pi F(c))` the
probability that a negative at :math:`c` is a real negative. That stream assumes every
duplicate has arrived. In a snapshot taken at the data's end, a row :math:`e \ge c` hours
old has its duplicate only with probability :math:`F(e)` given a delayed positive, so the
batch analogue uses the snapshot's own distribution:

.. math::

    p_{dp}(x, e) = \pi(x)\,(F(e) - F(c)),\qquad
    w_+ = \frac{1 + p_{dp}(x, e)}{F(e)},\qquad w_- = (1 + p_{dp}(x, e))\, p_{rn}(x),

the paper's weights where the row is mature (:math:`F(e) = 1`); rows younger than :math:`c`
are not ingested (count 0). Given :math:`x` and :math:`e`, with the true :math:`p_{dp}`,
:math:`p_{rn}` and :math:`F`, the expected coefficients are
:math:`(1 + p_{dp}(x, e))\,(\pi, 1 - \pi)` and the expected count :math:`1 + p_{dp}(x, e)`:
the expected loss per ingested sample is the cross-entropy against the *eventual* label,
for mature and recent rows alike. :class:`EsdfmAuxiliary` provides the estimates: the
paper's two auxiliary heads (logistic regressions here) fitted on the mature rows, and
:math:`F` from :class:`receval.delayed.DelayDistribution`; :math:`p_{dp}(x, e)` is the dp
head's :math:`\hat p_{dp}(x)` times :math:`(F(e) - F(c)) / (1 - F(c))`.

References
----------
Ktena, S. I., Tejani, A., Theis, L., Myana, P. K., Dilipkumar, D., Huszár, F., Yoo, S.,
Shi, W. (2019). Addressing delayed feedback for continuous training with neural networks
in CTR prediction. RecSys 2019.
Yang, J.-Q., Li, X., Han, S., Zhuang, T., Zhan, D.-C., Zeng, X., Tong, B. (2021).
Capturing delayed feedback in conversion rate prediction via elapsed-time sampling. AAAI
2021.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["CONVERSION_LABELS", "ConversionTargets", "EsdfmAuxiliary", "AuxiliaryNotIdentified",
           "check_conversion_labels", "fnw_weights", "fnw_targets", "esdfm_weights", "esdfm_targets"]

CONVERSION_LABELS = ("observed", "mature_only", "fnw", "esdfm")


class AuxiliaryNotIdentified(ValueError):
    """The rows cannot fit the ES-DFM auxiliary model (no mature row, no purchase, or a delay
    curve that is not identified): a fact about the data."""


def check_conversion_labels(method: Any) -> str:
    """``method`` if it is one of :data:`CONVERSION_LABELS`, else a ``ValueError`` naming them."""
    if not isinstance(method, str) or method not in CONVERSION_LABELS:
        raise ValueError(f"conversion_labels must be one of {CONVERSION_LABELS}, got {method!r}")
    return method


@dataclass
class ConversionTargets:
    """Per-row coefficients of a weighted pCTCVR cross-entropy.

    Row *i* adds ``positive[i] * (-log q_i) + negative[i] * (-log(1 - q_i))`` to the loss and
    ``count[i]`` (the samples it stands for) to its denominator.

    Attributes
    ----------
    positive, negative, count : ndarray of float32, shape (n,)
        Finite and >= 0.
    """

    positive: np.ndarray
    negative: np.ndarray
    count: np.ndarray

    def __post_init__(self) -> None:
        n = None
        for name in ("positive", "negative", "count"):
            values = np.asarray(getattr(self, name), dtype=np.float32)
            if values.ndim != 1 or (n is not None and len(values) != n):
                raise ValueError(f"ConversionTargets.{name} must be 1-d with one value per row, got shape "
                                 f"{values.shape}")
            if not (np.isfinite(values).all() and (values >= 0).all()):
                raise ValueError(f"ConversionTargets.{name} must be finite and >= 0")
            n = len(values)
            setattr(self, name, values)

    def __len__(self) -> int:
        return len(self.count)

    def __getitem__(self, rows) -> "ConversionTargets":
        return ConversionTargets(self.positive[rows], self.negative[rows], self.count[rows])


def fnw_weights(p):
    r"""FNW importance weights :math:`(1 + p,\ (1 - p)(1 + p))` of a positive and a negative.

    ``p`` is the model's own prediction, treated as a constant (stop-gradient): a numpy
    array or a detached torch tensor (the arithmetic is the same for both).
    """
    return 1.0 + p, (1.0 - p) * (1.0 + p)


def fnw_targets(converted, weight=None) -> ConversionTargets:
    """FNW's stream, before its weights: every row a negative, a converted row also a
    positive (``count`` 2). ``weight`` (default 1) scales a row's samples (0 drops it)."""
    y = _labels(converted, "converted")
    w = np.ones(len(y)) if weight is None else np.asarray(weight, np.float64)
    if w.shape != y.shape:
        raise ValueError(f"weight must have shape {y.shape}, got {w.shape}")
    return ConversionTargets(w * y, w, w * (1.0 + y))


def esdfm_weights(p_dp, p_rn, arrival=1.0) -> tuple[np.ndarray, np.ndarray]:
    r"""ES-DFM importance weights of a positive and a negative sample.

    :math:`w_+ = (1 + p_{dp}) / F(e)` and :math:`w_- = (1 + p_{dp})\,p_{rn}`, with
    :math:`p_{dp}` the probability of a delayed positive whose duplicate is in the data,
    :math:`p_{rn}` that of a real negative among the negatives at :math:`c`, and
    ``arrival`` :math:`F(e)` the probability that a purchase has arrived by the row's
    elapsed time (1: the paper's stream, where every duplicate has arrived).
    """
    p_dp, p_rn, arrival = (np.asarray(a, np.float64) for a in (p_dp, p_rn, arrival))
    if ((p_dp < 0) | (p_dp > 1) | (p_rn < 0) | (p_rn > 1)).any():
        raise ValueError("p_dp and p_rn must be probabilities in [0, 1]")
    if ((arrival <= 0) | (arrival > 1)).any():
        raise ValueError("arrival must be in (0, 1]")
    return (1.0 + p_dp) / arrival, (1.0 + p_dp) * p_rn


def esdfm_targets(converted, delay_hours, elapsed_hours, *, window_hours: float, p_delayed, p_real_negative,
                  arrival, arrival_at_window: float) -> ConversionTargets:
    r"""ES-DFM's samples and weights for rows of a snapshot taken at the data's end.

    Parameters
    ----------
    converted : array of {0, 1}, shape (n,)
        Purchase observed by the data's end.
    delay_hours : array of float, shape (n,)
        Click-to-purchase delay of a converted row (ignored, may be nan, elsewhere).
    elapsed_hours : array of float, shape (n,)
        Hours from the row's impression to the data's end.
    window_hours : float
        The observation window :math:`c`: a row enters once this old, with its label then.
    p_delayed : array of float, shape (n,)
        :math:`\hat p_{dp}(x)`, the probability that the row converts after :math:`c`
        (eventually).
    p_real_negative : array of float, shape (n,)
        :math:`\hat p_{rn}(x)`, the probability that a row not converted by :math:`c`
        never converts.
    arrival : array of float, shape (n,)
        :math:`F(e_i)`, the probability that a purchase has arrived by the elapsed time.
    arrival_at_window : float
        :math:`F(c)`, > 0.

    Returns
    -------
    ConversionTargets
        A row older than :math:`c` counts one sample (a negative unless converted within
        :math:`c`, then a positive) plus one duplicate positive when it converted later;
        positives weigh :math:`w_+`, negatives :math:`w_-` (:func:`esdfm_weights`, with
        :math:`p_{dp}(x, e) = \hat p_{dp}(x) (F(e) - F(c)) / (1 - F(c))`). A younger row
        counts nothing.
    """
    y = _labels(converted, "converted").astype(bool)
    n = len(y)
    delay = np.asarray(delay_hours, np.float64)
    elapsed = np.asarray(elapsed_hours, np.float64)
    p_dp, p_rn, f_e = (np.asarray(a, np.float64) for a in (p_delayed, p_real_negative, arrival))
    for name, values in (("delay_hours", delay), ("elapsed_hours", elapsed), ("p_delayed", p_dp),
                         ("p_real_negative", p_rn), ("arrival", f_e)):
        if values.shape != (n,):
            raise ValueError(f"{name} must have shape ({n},), got {values.shape}")
    if not np.isfinite(elapsed).all():
        raise ValueError("elapsed_hours must be finite")
    if not (np.isfinite(delay[y]).all() and (delay[y] >= 0).all()):
        raise ValueError("delay_hours must be finite and >= 0 for every converted row")
    c = float(window_hours)
    if not (np.isfinite(c) and c >= 0):
        raise ValueError(f"window_hours must be finite and >= 0, got {window_hours!r}")
    f_c = float(arrival_at_window)
    if not 0.0 < f_c <= 1.0:
        raise ValueError(f"arrival_at_window (F(c)) must be in (0, 1], got {arrival_at_window!r}: no purchase "
                         f"arrives within the observation window, so no row is positive at c")
    ingested = elapsed >= c
    late = y & (delay > c)
    # F(e) >= F(c) wherever e >= c; the clip keeps an estimated curve's rounding inside it.
    f_e = np.where(ingested, np.clip(f_e, f_c, 1.0), 1.0)
    share = np.zeros(n) if f_c >= 1.0 else np.clip((f_e - f_c) / (1.0 - f_c), 0.0, 1.0)
    w_pos, w_neg = esdfm_weights(p_dp * share, p_rn, f_e)
    positive = np.where(ingested & y, w_pos, 0.0)
    negative = np.where(ingested & ~(y & ~late), w_neg, 0.0)
    count = np.where(ingested, 1.0 + late, 0.0)
    return ConversionTargets(positive, negative, count)


@dataclass(frozen=True)
class _LogisticHead:
    """sigmoid(dense @ coef + intercept), or a constant where the fitting rows held one class."""

    coef: np.ndarray | None
    intercept: float
    constant: float | None = None

    @classmethod
    def fit(cls, dense: np.ndarray, labels: np.ndarray) -> "_LogisticHead":
        from sklearn.linear_model import LogisticRegression

        if labels.min() == labels.max():
            return cls(None, 0.0, float(labels[0]))
        fit = LogisticRegression(C=1.0, max_iter=500).fit(dense, labels)
        return cls(fit.coef_[0].astype(np.float64), float(fit.intercept_[0]))

    def predict(self, dense: np.ndarray) -> np.ndarray:
        if self.constant is not None:
            return np.full(len(dense), self.constant)
        z = np.asarray(dense, np.float64) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-z))


@dataclass(frozen=True)
class EsdfmAuxiliary:
    r"""The auxiliary estimates ES-DFM weighs its samples with.

    * dp head: :math:`\hat p_{dp}(x) = P(\text{purchase after } c \mid x)`, a logistic
      regression on every mature fitting row;
    * rn head: :math:`\hat p_{rn}(x) = P(\text{no purchase} \mid \text{none by } c, x)`, a
      logistic regression on the mature rows not converted within :math:`c`;
    * the delay curve :math:`\hat F` of every purchase seen in the fitting rows
      (:class:`receval.delayed.DelayDistribution`: right truncation by the data's end).

    A head whose rows hold one class is that constant (a world without delayed purchases
    gives :math:`\hat p_{dp} = 0` and :math:`\hat p_{rn} = 1`). The heads read the encoded
    dense features (:class:`~receval.models.features.FeatureMatrix`.dense).

    Attributes
    ----------
    window_hours : float
        The observation window :math:`c`.
    label_window_hours : float
        Hours after its impression by which a row's conversion label is final (attribution
        window plus click window): the delay curve's window.
    curve : receval.delayed.DelayCurve
    arrival_at_window : float
        :math:`\hat F(c)`.
    n_mature : int
        Mature rows the heads were fitted on.
    """

    window_hours: float
    label_window_hours: float
    curve: Any
    arrival_at_window: float
    delayed_head: _LogisticHead
    real_negative_head: _LogisticHead
    n_mature: int

    @classmethod
    def fit(cls, dense, converted, delay_hours, elapsed_hours, mature, *, window_hours: float,
            label_window_hours: float) -> "EsdfmAuxiliary":
        """Fit the heads on the ``mature`` rows and the delay curve on every purchase seen.

        Raises
        ------
        AuxiliaryNotIdentified
            No mature row, no purchase seen, a curve that is not identified (no purchase of
            a row whose label window has closed), or no purchase within ``window_hours``.
        """
        from receval.delayed import DelayDistribution

        dense = np.asarray(dense, np.float64)
        y = _labels(converted, "converted").astype(bool)
        delay = np.asarray(delay_hours, np.float64)
        elapsed = np.asarray(elapsed_hours, np.float64)
        mature = np.asarray(mature, bool)
        window = float(label_window_hours)
        c = float(window_hours)
        if not (np.isfinite(window) and window > 0):
            raise ValueError(f"label_window_hours must be > 0, got {label_window_hours!r}")
        if not (np.isfinite(c) and 0 <= c < window):
            raise ValueError(f"window_hours (c) must be in [0, label_window_hours = {window:g}), got {window_hours!r}")
        if not mature.any():
            raise AuxiliaryNotIdentified("esdfm needs mature conversion labels in the train split to fit its "
                                         "auxiliary model; none is mature")
        if not y.any():
            raise AuxiliaryNotIdentified("esdfm needs purchases in the train split to fit its delay curve")
        d = np.clip(delay[y], 0.0, window)
        seen = DelayDistribution(window, horizons=(), quantile_levels=())
        try:
            curve = seen.estimate_delay(d, np.maximum(np.clip(elapsed[y], 0.0, None), d))
        except ValueError as error:
            raise AuxiliaryNotIdentified(f"esdfm: the delay curve of the train split is not identified: {error}")
        f_c = float(curve.cdf_at([c]).cdf[0])
        if f_c <= 0.0:
            raise AuxiliaryNotIdentified(
                f"esdfm: no purchase of the train split arrived within the observation window ({c:g} h); "
                f"choose a longer window (var model_esdfm_window_hours)")
        yd, dd, xd = y[mature], delay[mature], dense[mature]
        delayed = yd & (dd > c)
        at_window = yd & ~delayed
        return cls(c, window, curve, f_c,
                   delayed_head=_LogisticHead.fit(xd, delayed.astype(np.float64)),
                   real_negative_head=_LogisticHead.fit(xd[~at_window], (~yd[~at_window]).astype(np.float64)),
                   n_mature=int(mature.sum()))

    def probabilities(self, dense) -> tuple[np.ndarray, np.ndarray]:
        """:math:`(\\hat p_{dp}(x), \\hat p_{rn}(x))` of each row."""
        return self.delayed_head.predict(dense), self.real_negative_head.predict(dense)

    def targets(self, dense, converted, delay_hours, elapsed_hours) -> ConversionTargets:
        """:func:`esdfm_targets` of these rows with this model's estimates."""
        p_dp, p_rn = self.probabilities(dense)
        elapsed = np.asarray(elapsed_hours, np.float64)
        arrival = self.curve.cdf_at(np.clip(elapsed, 0.0, None)).cdf
        return esdfm_targets(converted, delay_hours, elapsed, window_hours=self.window_hours, p_delayed=p_dp,
                             p_real_negative=p_rn, arrival=arrival, arrival_at_window=self.arrival_at_window)


def _labels(values, name: str) -> np.ndarray:
    y = np.asarray(values, np.float64)
    if y.ndim != 1 or not np.isin(y, (0.0, 1.0)).all():
        raise ValueError(f"{name} must be a 1-d array of labels in {{0, 1}}")
    return y
