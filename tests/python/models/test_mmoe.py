"""The MMoE candidate model: recovery of a known click/purchase model, determinism, early
stopping, ESMM properties, warm start, save/load and validation."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from receval.models import _esmm_losses as esmm
from receval.models.features import FeatureMatrix
from receval.models.mmoe import WEIGHTS_FILE, MMoEParams, TrainedMMoE, train_mmoe

N_USERS, N_ITEMS, N_COUNTRIES, N_CATEGORIES = 100, 60, 5, 8
CARDINALITIES = [N_USERS + 1, N_ITEMS + 1, 4, N_CATEGORIES + 1, N_COUNTRIES + 1]
# Small enough to train in a few seconds, big enough to reach the oracle. One thread: ops
# this small gain nothing from two, and two threads stall badly when the CPUs are shared.
SMALL = MMoEParams(embedding_dim=8, n_experts=3, expert_hidden=(16,), expert_dim=16, tower_hidden=(8,),
                   batch_size=512, learning_rate=1e-2, max_epochs=12, patience=2, threads=1)
FAST = dataclasses.replace(SMALL, max_epochs=2)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _world(n: int, seed: int) -> tuple[FeatureMatrix, np.ndarray, np.ndarray]:
    """``n`` impressions of one fixed world; returns the rows, true pCTR and true pCTCVR.

    Click: user and item effects, a country x category affinity, a position effect and a
    device effect. Purchase given click: price, a user effect and its own affinity. A fifth
    of the conversion labels are immature (weight 0), half of their purchases not yet seen.
    """
    world = np.random.default_rng(12345)
    country, category = world.integers(N_COUNTRIES, size=N_USERS), world.integers(N_CATEGORIES, size=N_ITEMS)
    click_affinity = world.normal(0, 0.8, (N_COUNTRIES, N_CATEGORIES))
    buy_affinity = world.normal(0, 0.8, (N_COUNTRIES, N_CATEGORIES))
    user_effect, item_effect = world.normal(0, 0.5, N_USERS), world.normal(0, 0.8, N_ITEMS)
    user_buy, price = world.normal(0, 0.5, N_USERS), world.normal(0, 1, N_ITEMS)

    rng = np.random.default_rng(seed)
    user, item = rng.integers(N_USERS, size=n), rng.integers(N_ITEMS, size=n)
    position, device = rng.integers(1, 11, size=n), rng.integers(3, size=n)
    p_click = _sigmoid(-1.2 + user_effect[user] + item_effect[item] + click_affinity[country[user], category[item]]
                       - 0.7 * np.log(position) + 0.4 * (device == 2))
    p_buy = _sigmoid(-0.5 - 0.8 * price[item] + user_buy[user] + buy_affinity[country[user], category[item]])
    click = rng.random(n) < p_click
    purchase = click & (rng.random(n) < p_buy)
    mature = rng.random(n) > 0.2
    observed = purchase & (mature | (rng.random(n) < 0.5))

    categorical = np.stack([user + 1, item + 1, device + 1, category[item] + 1, country[user] + 1], axis=1)
    dense = np.stack([np.log(position), price[item], rng.normal(size=n)], axis=1)
    dense = ((dense - dense.mean(0)) / dense.std(0)).astype(np.float32)
    matrix = FeatureMatrix(categorical.astype(np.int64), dense, dense.copy(), click.astype(np.float32),
                           observed.astype(np.float32), mature.astype(np.float32))
    return matrix, p_click, p_click * p_buy


@pytest.fixture(scope="module")
def data():
    train, _, _ = _world(50_000, seed=1)
    valid, p_click, p_ctcvr = _world(20_000, seed=2)
    return train, valid, p_click, p_ctcvr


@pytest.fixture(scope="module")
def small(data):
    """A few thousand rows: enough for tests of the machinery rather than of accuracy."""
    train, valid = data[0], data[1]
    return _rows(train, slice(0, 4000)), _rows(valid, slice(0, 2000))


@pytest.fixture(scope="module")
def model(data) -> TrainedMMoE:
    return train_mmoe(data[0], data[1], CARDINALITIES, SMALL)


def _rows(matrix: FeatureMatrix, rows) -> FeatureMatrix:
    values = (getattr(matrix, f.name) for f in dataclasses.fields(matrix))
    return FeatureMatrix(*(None if v is None else v[rows] for v in values))


def test_recovers_the_oracle_auc(data, model):
    train, valid, p_click, p_ctcvr = data
    predicted = model.predict(valid)
    auc_click = roc_auc_score(valid.click, predicted["click"])
    oracle_click = roc_auc_score(valid.click, p_click)
    item, n_items = train.categorical[:, 1], CARDINALITIES[1]
    item_ctr = np.bincount(item, train.click, n_items) / np.maximum(np.bincount(item, minlength=n_items), 1)
    popularity = roc_auc_score(valid.click, item_ctr[valid.categorical[:, 1]])
    assert auc_click > oracle_click - 0.02
    assert auc_click > popularity + 0.05

    mature = valid.conversion_weight > 0
    auc_conversion = roc_auc_score(valid.conversion[mature], predicted["conversion"][mature])
    assert auc_conversion > 0.7
    assert auc_conversion > roc_auc_score(valid.conversion[mature], p_ctcvr[mature]) - 0.05
    assert model.history[model.best_epoch]["valid_auc_click"] == pytest.approx(auc_click, abs=1e-4)


def test_predictions_are_probabilities_and_esmm_bounded(data, model):
    predicted = model.predict(data[1])
    assert set(predicted) == {"click", "conversion"}
    for p in predicted.values():
        assert p.dtype == np.float64 and p.shape == (len(data[1]),)
        assert ((p > 0) & (p < 1)).all()
    # pCTCVR = pCTR * pCVR can never exceed pCTR
    assert (predicted["conversion"] <= predicted["click"]).all()


def test_predict_needs_no_labels_and_any_batch_size(data, model):
    valid = data[1]
    unlabelled = FeatureMatrix(valid.categorical, valid.dense, valid.raw_dense)
    whole = model.predict(unlabelled)
    batched = model.predict(unlabelled, batch_size=777)
    np.testing.assert_allclose(batched["click"], whole["click"], rtol=1e-5)


def test_history_records_every_epoch(model):
    assert [h["epoch"] for h in model.history] == list(range(len(model.history)))
    assert model.history[0]["train_loss"] is None
    for h in model.history[1:]:
        assert h["train_loss"] > 0 and h["seconds"] > 0
        assert h["valid_loss"] == pytest.approx(h["valid_click_loss"] + h["valid_conversion_loss"], rel=1e-6)


def test_esmm_loss_matches_the_naive_formula_and_stays_finite():
    a = torch.tensor([-3.0, 0.5, 2.0, -1.0], dtype=torch.float64)
    b = torch.tensor([1.0, -2.0, 0.0, 4.0], dtype=torch.float64)
    click = torch.tensor([0.0, 1.0, 1.0, 0.0], dtype=torch.float64)
    conversion = torch.tensor([0.0, 1.0, 0.0, 0.0], dtype=torch.float64)
    weight = torch.tensor([1.0, 1.0, 0.0, 1.0], dtype=torch.float64)
    ones = torch.ones(4, dtype=torch.float64)
    click_loss, conversion_loss = esmm.losses(a, b, click, ones, conversion, weight)
    p = torch.sigmoid(a) * torch.sigmoid(b)
    naive = -(conversion * torch.log(p) + (1 - conversion) * torch.log1p(-p))
    assert float(conversion_loss) == pytest.approx(float((weight * naive).sum() / weight.sum()), rel=1e-12)
    bce = -(click * torch.log(torch.sigmoid(a)) + (1 - click) * torch.log1p(-torch.sigmoid(a)))
    assert float(click_loss) == pytest.approx(float(bce.mean()), rel=1e-12)
    # a sample weight per row (a negative sample's 1 / rate) makes the click loss a weighted mean
    sample = torch.tensor([4.0, 1.0, 1.0, 4.0], dtype=torch.float64)
    click_loss, _ = esmm.losses(a, b, click, sample, conversion, weight)
    assert float(click_loss) == pytest.approx(float((sample * bce).sum() / sample.sum()), rel=1e-12)

    # pCTCVR rounds to 1 in float32 here, yet loss and gradients stay finite
    a = torch.tensor([200.0, -200.0], requires_grad=True)
    b = torch.tensor([200.0, 50.0], requires_grad=True)
    zeros = torch.zeros(2)
    loss = sum(esmm.losses(a, b, zeros, torch.ones(2), zeros, torch.ones(2)))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(a.grad).all() and torch.isfinite(b.grad).all()


def test_same_seed_same_model_other_seed_differs(small):
    train, valid = small
    first = train_mmoe(train, valid, CARDINALITIES, FAST).predict(valid)
    again = train_mmoe(train, valid, CARDINALITIES, FAST).predict(valid)
    other = train_mmoe(train, valid, CARDINALITIES, dataclasses.replace(FAST, seed=1)).predict(valid)
    for task in ("click", "conversion"):
        np.testing.assert_array_equal(first[task], again[task])
        assert not np.allclose(first[task], other[task])


def test_training_leaves_global_torch_state_alone(small):
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    rng_state = torch.random.get_rng_state()
    torch.set_num_threads(2)  # differs from the run's 1 thread, so restoring it is visible
    try:
        train_mmoe(*small, CARDINALITIES, dataclasses.replace(FAST, max_epochs=1))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
    assert torch.are_deterministic_algorithms_enabled() == deterministic
    assert torch.equal(torch.random.get_rng_state(), rng_state)


def test_early_stopping_keeps_the_best_epoch(small):
    train, valid = small
    # a few hundred rows, ID embeddings and a large step: validation loss turns up quickly
    overfit = dataclasses.replace(SMALL, embedding_dim=16, expert_hidden=(64,), batch_size=64,
                                  learning_rate=3e-2, max_epochs=40, patience=2)
    trained = train_mmoe(_rows(train, slice(0, 400)), valid, CARDINALITIES, overfit)
    epochs_run = trained.history[-1]["epoch"]
    losses = [h["valid_loss"] for h in trained.history]
    assert epochs_run < overfit.max_epochs
    assert trained.best_epoch == epochs_run - overfit.patience
    assert losses[trained.best_epoch] == min(losses)
    assert trained.evaluate(valid)["loss"] == min(losses)


def test_immature_conversion_labels_do_not_count(small):
    train, valid = small
    flipped = dataclasses.replace(train, conversion=np.where(train.conversion_weight > 0, train.conversion,
                                                             1.0 - train.conversion).astype(np.float32))
    assert (flipped.conversion != train.conversion).any()
    a = train_mmoe(train, valid, CARDINALITIES, FAST).predict(valid)
    b = train_mmoe(flipped, valid, CARDINALITIES, FAST).predict(valid)
    np.testing.assert_array_equal(a["conversion"], b["conversion"])
    # ... whereas the mature labels do
    changed = dataclasses.replace(train, conversion=(1.0 - train.conversion).astype(np.float32))
    c = train_mmoe(changed, valid, CARDINALITIES, FAST).predict(valid)
    assert not np.allclose(a["conversion"], c["conversion"])


def test_missing_conversion_weight_means_all_mature(small):
    train, valid = small
    ones = dataclasses.replace(train, conversion_weight=np.ones(len(train), np.float32))
    none = dataclasses.replace(train, conversion_weight=None)
    params = dataclasses.replace(FAST, max_epochs=1)
    np.testing.assert_array_equal(train_mmoe(ones, valid, CARDINALITIES, params).predict(valid)["conversion"],
                                  train_mmoe(none, valid, CARDINALITIES, params).predict(valid)["conversion"])


def test_warm_start_begins_from_the_given_weights(small, model):
    train, valid = small
    before = model.predict(valid)
    warm = train_mmoe(train, valid, CARDINALITIES, dataclasses.replace(FAST, max_epochs=1, seed=3),
                      init_from=model)
    # epoch 0 scores the starting weights: exactly the source model's validation metrics
    source = model.evaluate(valid)
    start = warm.history[0]
    assert (start["valid_loss"], start["valid_auc_click"], start["valid_auc_conversion"]) == (
        source["loss"], source["auc_click"], source["auc_conversion"])
    np.testing.assert_array_equal(model.predict(valid)["click"], before["click"])  # source untouched


def test_warm_start_rejects_a_different_shape(small, model):
    train, valid = small
    grown = [CARDINALITIES[0] + 5, *CARDINALITIES[1:]]
    with pytest.raises(ValueError, match=r"init_from has cardinalities .* warm start needs the same vocabularies"):
        train_mmoe(train, valid, grown, FAST, init_from=model)
    with pytest.raises(ValueError, match=r"different architecture.*embeddings\.0\.weight"):
        train_mmoe(train, valid, CARDINALITIES, dataclasses.replace(FAST, embedding_dim=4), init_from=model)
    with pytest.raises(ValueError, match="dense columns"):
        narrow = dataclasses.replace(train, dense=train.dense[:, :2])
        train_mmoe(narrow, dataclasses.replace(valid, dense=valid.dense[:, :2]), CARDINALITIES, FAST,
                   init_from=model)


def test_save_load_round_trip(tmp_path, data, model):
    valid = data[1]
    model.save(tmp_path / "fp32")
    loaded = TrainedMMoE.load(tmp_path / "fp32")
    assert (loaded.params, loaded.cardinalities, loaded.n_dense) == (model.params, model.cardinalities, model.n_dense)
    assert (loaded.history, loaded.best_epoch) == (model.history, model.best_epoch)
    expected, got = model.predict(valid), loaded.predict(valid)
    for task in expected:
        np.testing.assert_array_equal(got[task], expected[task])

    half = dataclasses.replace(model, params=dataclasses.replace(model.params, fp16_embeddings=True))
    half.save(tmp_path / "fp16")
    from_half = TrainedMMoE.load(tmp_path / "fp16")
    assert all(t.dtype == torch.float32 for t in from_half.network.state_dict().values())
    assert (tmp_path / "fp16" / WEIGHTS_FILE).stat().st_size < (tmp_path / "fp32" / WEIGHTS_FILE).stat().st_size
    got = from_half.predict(valid)
    for task in expected:
        np.testing.assert_allclose(got[task], expected[task], atol=1e-3)


@pytest.mark.parametrize("kwargs, message", [
    ({"embedding_dim": 0}, "embedding_dim must be an int >= 1"),
    ({"n_experts": 2.5}, "n_experts must be an int >= 1"),
    ({"batch_size": True}, "batch_size must be an int >= 1"),
    ({"patience": 0}, "patience must be an int >= 1"),
    ({"max_epochs": 0}, "max_epochs must be an int >= 1"),
    ({"threads": 0}, "threads must be an int >= 1"),
    ({"seed": -1}, "seed must be an int >= 0"),
    ({"expert_hidden": (64, 0)}, "every width in expert_hidden must be an int >= 1"),
    ({"tower_hidden": "32"}, "tower_hidden must be a sequence of positive ints"),
    ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
    ({"learning_rate": 0.0}, "learning_rate must be > 0"),
    ({"learning_rate": float("nan")}, "learning_rate must be a finite number"),
    ({"weight_decay": -1e-6}, "weight_decay must be >= 0"),
    ({"fp16_embeddings": "yes"}, "fp16_embeddings must be a bool"),
    ({"conversion_loss": "clicked_only"},
     r"conversion_loss must be one of \('esmm', 'esmm_fnw', 'esmm_esdfm'\), got 'clicked_only'"),
])
def test_params_are_validated(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MMoEParams(**kwargs)


def test_params_defaults_and_lists():
    params = MMoEParams(expert_hidden=[64, 32])
    assert params.expert_hidden == (64, 32)
    assert MMoEParams() == MMoEParams(embedding_dim=16, n_experts=4, expert_hidden=(64,), expert_dim=32,
                                      tower_hidden=(32,), batch_size=4096, max_epochs=20, patience=1,
                                      negative_sample_rate=1.0, negative_sample_min=200_000)


def test_inputs_are_validated(small, model):
    train, valid = small
    too_high = train.categorical.copy()
    too_high[0, 1] = CARDINALITIES[1]
    with pytest.raises(ValueError, match=r"train.categorical column 1 has codes in \[.*\] outside \[0, 61\)"):
        train_mmoe(dataclasses.replace(train, categorical=too_high), valid, CARDINALITIES, FAST)
    with pytest.raises(ValueError, match=r"shape \(n, 5\)"):
        train_mmoe(dataclasses.replace(train, categorical=train.categorical[:, :4]), valid, CARDINALITIES, FAST)
    with pytest.raises(ValueError, match="valid.click labels are required"):
        train_mmoe(train, dataclasses.replace(valid, click=None), CARDINALITIES, FAST)
    with pytest.raises(ValueError, match=r"train.conversion must be .* labels in \{0, 1\}"):
        train_mmoe(dataclasses.replace(train, conversion=train.conversion * 2), valid, CARDINALITIES, FAST)
    with pytest.raises(ValueError, match="no mature conversion labels"):
        no_mature = dataclasses.replace(train, conversion_weight=np.zeros(len(train), np.float32))
        train_mmoe(no_mature, valid, CARDINALITIES, FAST)
    with pytest.raises(ValueError, match="matrix.dense has 2 columns; the model has 3"):
        model.predict(dataclasses.replace(valid, dense=valid.dense[:, :2]))
