"""Conversion labels under delayed feedback (receval.models.delayed_feedback and the MMoE's
weighted losses): FNW and ES-DFM weights by hand, the stop-gradient, the expected loss when
every label is final, the snapshot correction, and the errors."""
from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
import torch

from receval.models import _esmm_losses as esmm
from receval.models.delayed_feedback import (
    CONVERSION_LABELS,
    AuxiliaryNotIdentified,
    ConversionTargets,
    EsdfmAuxiliary,
    check_conversion_labels,
    esdfm_targets,
    esdfm_weights,
    fnw_targets,
    fnw_weights,
)
from receval.models.features import FeatureMatrix
from receval.models.mmoe import MMoEParams, train_mmoe


def _bce(pi: float, q: float) -> float:
    """Expected cross-entropy of prediction q against a Bernoulli(pi) label."""
    return -(pi * np.log(q) + (1 - pi) * np.log1p(-q))


# --- weights by hand ---------------------------------------------------------------------

def test_fnw_weights_and_stream_by_hand():
    positive, negative = fnw_weights(np.array([0.1, 0.5, 0.2]))
    np.testing.assert_allclose(positive, [1.1, 1.5, 1.2], rtol=1e-15)
    np.testing.assert_allclose(negative, [0.99, 0.75, 0.96], rtol=1e-15)   # (1 - p)(1 + p) = 1 - p^2
    stream = fnw_targets([0, 1, 1], weight=[1.0, 1.0, 0.0])
    # every row a negative; a converted row also a positive (2 samples); weight 0 drops a row
    assert stream.positive.tolist() == [0.0, 1.0, 0.0]
    assert stream.negative.tolist() == [1.0, 1.0, 0.0]
    assert stream.count.tolist() == [1.0, 2.0, 0.0]


def test_esdfm_weights_and_targets_by_hand():
    # the paper's stream (every duplicate arrived, F(e) = 1): w+ = 1 + p_dp, w- = (1 + p_dp) p_rn
    w_pos, w_neg = esdfm_weights([0.04, 0.0], [0.95, 1.0])
    np.testing.assert_allclose(w_pos, [1.04, 1.0], rtol=1e-15)
    np.testing.assert_allclose(w_neg, [0.988, 1.0], rtol=1e-15)
    # a snapshot: c = 1 h, F(c) = 0.5. Rows 0-2 are 30 h old with F(e) = 0.75: half the
    # delayed positives have arrived, p_dp(x, e) = 0.04 * (0.75 - 0.5) / (1 - 0.5) = 0.02,
    # w+ = 1.02 / 0.75 = 1.36, w- = 1.02 * 0.95 = 0.969. Row 3 is younger than c (not
    # ingested); row 4 is mature (F(e) = 1): the paper's weights 1.04 and 0.988.
    targets = esdfm_targets(
        converted=[0, 1, 1, 1, 0], delay_hours=[np.nan, 0.5, 5.0, 0.1, np.nan],
        elapsed_hours=[30.0, 30.0, 30.0, 0.5, 200.0], window_hours=1.0,
        p_delayed=[0.04] * 5, p_real_negative=[0.95] * 5, arrival=[0.75, 0.75, 0.75, 0.3, 1.0],
        arrival_at_window=0.5)
    # no purchase: a negative; within c: a positive; after c: a negative at c and a duplicate positive
    np.testing.assert_allclose(targets.positive, [0.0, 1.36, 1.36, 0.0, 0.0], rtol=1e-7)
    np.testing.assert_allclose(targets.negative, [0.969, 0.0, 0.969, 0.0, 0.988], rtol=1e-7)
    assert targets.count.tolist() == [1.0, 1.0, 2.0, 0.0, 1.0]


# --- the losses ----------------------------------------------------------------------------

def _logits():
    a = torch.tensor([-1.0, 0.5, 2.0, -0.3], dtype=torch.float64, requires_grad=True)
    b = torch.tensor([-2.0, 0.2, -1.0, -3.0], dtype=torch.float64, requires_grad=True)
    return a, b


def test_fnw_loss_value_and_gradient_stop_at_the_weights():
    a, b = _logits()
    click = torch.tensor([0.0, 1.0, 1.0, 0.0], dtype=torch.float64)
    y = np.array([0.0, 1.0, 0.0, 0.0])
    stream = fnw_targets(y)
    positive, negative, count = (torch.tensor(getattr(stream, f), dtype=torch.float64)
                                 for f in ("positive", "negative", "count"))
    _, loss = esmm.weighted_losses(a, b, click, torch.ones_like(click), positive, negative, count, fnw=True)
    loss.backward()

    q = (torch.sigmoid(a) * torch.sigmoid(b)).detach()
    w_pos, w_neg = 1 + q, (1 - q) * (1 + q)
    expected = -(positive * w_pos * torch.log(q) + negative * w_neg * torch.log1p(-q)).sum() / count.sum()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-12)
    # d/dq with the weights held constant, times dq/da = q (1 - s(a)) and dq/db = q (1 - s(b))
    dq = (-positive * w_pos / q + negative * w_neg / (1 - q)) / count.sum()
    np.testing.assert_allclose(a.grad, dq * q * (1 - torch.sigmoid(a.detach())), rtol=1e-10)
    np.testing.assert_allclose(b.grad, dq * q * (1 - torch.sigmoid(b.detach())), rtol=1e-10)

    # without the stop-gradient the weights' own derivative would enter: another gradient
    a2, b2 = _logits()
    q2 = torch.sigmoid(a2) * torch.sigmoid(b2)
    (-(positive * (1 + q2) * torch.log(q2) + negative * (1 - q2) * (1 + q2) * torch.log1p(-q2)).sum()
     / count.sum()).backward()
    assert not np.allclose(a2.grad, a.grad, rtol=1e-3)


def test_weighted_loss_with_unit_weights_is_the_esmm_loss_bit_for_bit():
    a, b = _logits()
    click = torch.tensor([0.0, 1.0, 1.0, 0.0], dtype=torch.float64)
    y = torch.tensor([0.0, 1.0, 0.0, 0.0], dtype=torch.float64)
    ones = torch.ones(4, dtype=torch.float64)
    weighted = esmm.weighted_losses(a, b, click, ones, y, 1 - y, ones, fnw=False)[1]
    assert weighted.item() == esmm.losses(a, b, click, ones, y, ones)[1].item()


# --- the expected loss when every label is final ----------------------------------------------

@pytest.mark.parametrize("pi, q", [(0.01, 0.02), (0.3, 0.3), (0.7, 0.1)])
def test_fnw_expected_loss_per_sample_is_the_observed_loss_when_labels_are_final(pi, q):
    """At p = pi (the weights' stop-gradient p at the truth), E[coefficients] = (1 + pi)(pi,
    1 - pi) and E[count] = 1 + pi: per ingested sample, the observed cross-entropy, for any q."""
    numerator = count = 0.0
    for y, prob in ((0, 1 - pi), (1, pi)):
        stream = fnw_targets([y])
        w_pos, w_neg = fnw_weights(pi)
        numerator += prob * (float(stream.positive[0]) * w_pos * -np.log(q)
                             + float(stream.negative[0]) * w_neg * -np.log1p(-q))
        count += prob * float(stream.count[0])
    assert count == pytest.approx(1 + pi, rel=1e-12)
    assert numerator / count == pytest.approx(_bce(pi, q), rel=1e-12)


@pytest.mark.parametrize("f_e", [1.0, 0.8, 0.55])
@pytest.mark.parametrize("pi, q", [(0.02, 0.05), (0.4, 0.3)])
def test_esdfm_expected_loss_per_sample_is_the_eventual_loss(pi, q, f_e):
    """With the true p_dp, p_rn and F: mature rows (F(e) = 1, every label final) give the
    observed cross-entropy exactly, and immature rows give the cross-entropy against the
    eventual label (not the observed one, pi F(e))."""
    f_c = 0.5
    p_dp, p_rn = pi * (1 - f_c), (1 - pi) / (1 - pi * f_c)
    outcomes = [  # (converted so far, delay): within c, after c and arrived, not (yet) seen
        (1, 0.5, pi * f_c), (1, 5.0, pi * (f_e - f_c)), (0, np.nan, 1 - pi * f_e)]
    numerator = count = 0.0
    for converted, delay, prob in outcomes:
        t = esdfm_targets([converted], [delay], [30.0], window_hours=1.0, p_delayed=[p_dp], p_real_negative=[p_rn],
                          arrival=[f_e], arrival_at_window=f_c)
        numerator += prob * (float(t.positive[0]) * -np.log(q) + float(t.negative[0]) * -np.log1p(-q))
        count += prob * float(t.count[0])
    assert count == pytest.approx(1 + pi * (f_e - f_c), rel=1e-6)
    assert numerator / count == pytest.approx(_bce(pi, q), rel=1e-6)   # float32 targets


def test_esdfm_without_delay_is_the_observed_loss_row_by_row():
    """Every purchase at its click (F(c) = 1, no delayed positive): the fitted heads are the
    constants p_dp = 0 and p_rn = 1, every weight is 1 and each row counts once."""
    rng = np.random.default_rng(0)
    y = (rng.random(500) < 0.2).astype(float)
    aux = EsdfmAuxiliary.fit(rng.normal(size=(500, 3)), y, np.where(y > 0, 0.0, np.nan), np.full(500, 400.0),
                             np.ones(500, bool), window_hours=1.0, label_window_hours=168.5)
    assert aux.arrival_at_window == 1.0
    t = aux.targets(rng.normal(size=(500, 3)), y, np.where(y > 0, 0.0, np.nan), np.full(500, 400.0))
    assert t.positive.tolist() == y.tolist() and t.negative.tolist() == (1 - y).tolist()
    assert t.count.tolist() == [1.0] * 500


def _matrix(n: int, seed: int, delayed: bool) -> tuple[FeatureMatrix, np.ndarray, np.ndarray]:
    """Rows of a small click/purchase world; returns the matrix, delays and elapsed hours."""
    rng = np.random.default_rng(seed)
    user, item = rng.integers(1, 31, n), rng.integers(1, 21, n)
    p_click = 1 / (1 + np.exp(-(-1.0 + 0.05 * (user - 15) + 0.08 * (item - 10))))
    click = rng.random(n) < p_click
    purchase = click & (rng.random(n) < 0.3)
    delay = np.where(purchase, rng.exponential(20.0, n) if delayed else 0.0, np.nan)
    elapsed = rng.uniform(0.0, 400.0, n)
    seen = purchase & (np.nan_to_num(delay, nan=np.inf) <= elapsed)
    dense = rng.normal(size=(n, 2)).astype(np.float32)
    matrix = FeatureMatrix(np.stack([user, item], 1).astype(np.int64), dense, dense.copy(), click.astype(np.float32),
                           seen.astype(np.float32), np.ones(n, np.float32))
    return matrix, np.where(seen, delay, np.nan), elapsed


TINY = MMoEParams(embedding_dim=4, n_experts=2, expert_hidden=(8,), expert_dim=8, tower_hidden=(), batch_size=256,
                  learning_rate=1e-2, max_epochs=2, patience=1, threads=1)


def test_esdfm_on_a_world_without_delay_trains_the_observed_model_bit_for_bit():
    train, train_delay, train_elapsed = _matrix(3000, 1, delayed=False)
    valid, valid_delay, valid_elapsed = _matrix(1000, 2, delayed=False)
    # every row older than c = 1 h: ES-DFM ingests them all
    train_elapsed, valid_elapsed = np.maximum(train_elapsed, 2.0), np.maximum(valid_elapsed, 2.0)
    aux = EsdfmAuxiliary.fit(train.dense, train.conversion, train_delay, train_elapsed, train_elapsed >= 168.5,
                             window_hours=1.0, label_window_hours=168.5)
    train_t = dataclasses.replace(train, conversion_targets=aux.targets(train.dense, train.conversion, train_delay,
                                                                        train_elapsed))
    valid_t = dataclasses.replace(valid, conversion_targets=aux.targets(valid.dense, valid.conversion, valid_delay,
                                                                        valid_elapsed))
    observed = train_mmoe(train, valid, [31, 21], TINY)
    esdfm = train_mmoe(train_t, valid_t, [31, 21], dataclasses.replace(TINY, conversion_loss="esmm_esdfm"))
    assert esdfm.history == [{**h, "seconds": e["seconds"]} for h, e in zip(observed.history, esdfm.history)]
    np.testing.assert_array_equal(esdfm.predict(valid)["conversion"], observed.predict(valid)["conversion"])


def test_fitted_esdfm_recovers_the_eventual_rate_where_observed_and_fnw_do_not():
    """One population (pi = 0.1), delays exponential with mean 20 h, rows 0-400 h old: the
    observed rate is about 5% low. The weighted losses' minimiser for a constant prediction:
    observed and FNW (at its fixed point p = q) sit at the observed rate; ES-DFM with its
    fitted auxiliary model (heads and delay curve) at the eventual one."""
    rng = np.random.default_rng(3)
    n, pi = 200_000, 0.1
    converts = rng.random(n) < pi
    delay = rng.exponential(20.0, n)
    elapsed = rng.uniform(0.0, 400.0, n)
    seen = converts & (delay <= elapsed)
    dense = rng.normal(size=(n, 1))
    aux = EsdfmAuxiliary.fit(dense, seen, np.where(seen, delay, np.nan), elapsed, elapsed >= 168.5,
                             window_hours=1.0, label_window_hours=168.5)
    t = aux.targets(dense, seen, np.where(seen, delay, np.nan), elapsed)
    esdfm_rate = t.positive.sum() / (t.positive.sum() + t.negative.sum())
    assert seen.mean() < 0.96 * converts.mean()
    assert esdfm_rate == pytest.approx(converts.mean(), rel=0.01)
    # FNW: stationary q solves sum y (1 + q) / q = sum (1 + q), i.e. q = the observed rate
    stream = fnw_targets(seen)
    q = seen.mean()
    w_pos, w_neg = fnw_weights(q)
    grad = (-stream.positive * w_pos / q + stream.negative * w_neg / (1 - q)).sum()
    assert grad == pytest.approx(0.0, abs=1e-6 * n)


# --- errors ------------------------------------------------------------------------------------

def test_unknown_method_and_malformed_targets_are_errors():
    assert CONVERSION_LABELS == ("observed", "mature_only", "fnw", "esdfm")
    with pytest.raises(ValueError, match=r"conversion_labels must be one of \('observed', 'mature_only', 'fnw', "
                                         r"'esdfm'\), got 'dfm'"):
        check_conversion_labels("dfm")
    with pytest.raises(ValueError, match="ConversionTargets.count must be finite and >= 0"):
        ConversionTargets(np.zeros(2), np.zeros(2), np.array([1.0, -1.0]))
    with pytest.raises(ValueError, match="arrival_at_window"):
        esdfm_targets([0], [np.nan], [5.0], window_hours=1.0, p_delayed=[0.1], p_real_negative=[0.9], arrival=[0.5],
                      arrival_at_window=0.0)
    with pytest.raises(ValueError, match="delay_hours must be finite and >= 0 for every converted row"):
        esdfm_targets([1], [np.nan], [5.0], window_hours=1.0, p_delayed=[0.1], p_real_negative=[0.9], arrival=[0.5],
                      arrival_at_window=0.5)
    with pytest.raises(ValueError, match="converted must be a 1-d array of labels"):
        fnw_targets([0, 2])
    rng = np.random.default_rng(0)
    dense, y = rng.normal(size=(50, 2)), (rng.random(50) < 0.3).astype(float)
    with pytest.raises(AuxiliaryNotIdentified, match="none is mature"):
        EsdfmAuxiliary.fit(dense, y, np.where(y > 0, 1.0, np.nan), np.full(50, 20.0), np.zeros(50, bool),
                           window_hours=1.0, label_window_hours=168.5)
    with pytest.raises(AuxiliaryNotIdentified, match="no purchase of the train split arrived within the observation"):
        EsdfmAuxiliary.fit(dense, y, np.where(y > 0, 5.0, np.nan), np.full(50, 200.0), np.ones(50, bool),
                           window_hours=1.0, label_window_hours=168.5)


def test_esdfm_loss_needs_its_targets():
    train, _, _ = _matrix(500, 1, delayed=True)
    with pytest.raises(ValueError, match=r"conversion_loss 'esmm_esdfm' needs train.conversion_targets"):
        train_mmoe(train, train, [31, 21], dataclasses.replace(TINY, conversion_loss="esmm_esdfm"))
    wrong = dataclasses.replace(train, conversion_targets=fnw_targets(train.conversion[:10]))
    with pytest.raises(ValueError, match="train.conversion_targets has 10 rows, the matrix 500"):
        train_mmoe(wrong, wrong, [31, 21], dataclasses.replace(TINY, conversion_loss="esmm_esdfm"))


def test_fnw_trains_and_validates_on_the_observed_loss():
    train, _, _ = _matrix(3000, 1, delayed=True)
    valid, _, _ = _matrix(1000, 2, delayed=True)
    fnw = train_mmoe(train, valid, [31, 21], dataclasses.replace(TINY, conversion_loss="esmm_fnw"))
    observed = train_mmoe(train, valid, [31, 21], TINY)
    # epoch 0 scores the same initial weights on the same (observed) validation loss
    assert fnw.history[0]["valid_loss"] == observed.history[0]["valid_loss"]
    assert fnw.evaluate(valid)["conversion_loss"] == pytest.approx(
        fnw.history[fnw.best_epoch]["valid_conversion_loss"], rel=1e-6)
    assert not np.array_equal(fnw.predict(valid)["conversion"], observed.predict(valid)["conversion"])


def test_every_combination_of_loss_and_conversion_is_finite():
    a = torch.tensor([200.0, -200.0, 0.0], requires_grad=True)
    b = torch.tensor([200.0, 50.0, -60.0], requires_grad=True)
    zeros, ones = torch.zeros(3), torch.ones(3)
    for fnw, y in itertools.product((False, True), (zeros, ones)):
        loss = sum(esmm.weighted_losses(a, b, zeros, ones, y, ones, ones + y, fnw=fnw))
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(a.grad).all() and torch.isfinite(b.grad).all()
        a.grad = b.grad = None
