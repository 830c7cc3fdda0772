"""Candidate models outside dbt: calibration, popularity, content embeddings, XGBoost and the
train -> store -> register -> score path, on synthetic feature tables with a known truth."""
from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pytest
import statsmodels.api as sm
from sklearn.metrics import roc_auc_score

from receval.models.calibration import Calibrator, fit_calibrator
from receval.models.content import item_content_embeddings
from receval.models.features import CATEGORICAL, DENSE, FeatureEncoder, lookup_sorted
from receval.models.gbdt import GBDTParams, TrainedGBDT, train_gbdt
from receval.models.popularity import fit_popularity
from receval.models.registry import read_manifests, registry_table
from receval.models.training import score_candidates, train_candidate, train_candidates

N_USERS, N_ITEMS = 300, 120


def synthetic_world(seed: int = 0):
    """True click / purchase logits: user and item effects, a position effect, one dense signal."""
    rng = np.random.default_rng(seed)
    return {"user_bias": rng.normal(0, 0.8, N_USERS), "item_bias": rng.normal(0, 0.8, N_ITEMS),
            "item_cat": rng.integers(0, 6, N_ITEMS), "rng": rng}


def synthetic_features(world, n: int, start: date, days: int, first_event: int = 0) -> pa.Table:
    """A feature table in the int_features__impressions contract with labels from the truth.

    ``item_id_te_ctr`` / ``user_id_te_ctr`` carry a noisy view of the true item / user
    effect, as leak-free target encodings would."""
    rng = world["rng"]
    user = rng.integers(1, N_USERS + 1, n)
    item = rng.integers(1, N_ITEMS + 1, n)
    position = rng.integers(1, 11, n)
    signal = rng.normal(0, 1, n)
    logit = -1.5 + world["user_bias"][user - 1] + world["item_bias"][item - 1] - 0.15 * position + 0.7 * signal
    p_click = 1 / (1 + np.exp(-logit))
    p_buy = p_click * 0.2
    day = rng.integers(0, days, n)
    columns = {
        "event_id": np.arange(first_event, first_event + n), "request_id": np.arange(n) // 10 + first_event,
        "impression_date": pa.array([start + timedelta(days=int(d)) for d in day], pa.date32()),
        "split": pa.array(np.where(day < days - 2, "train", np.where(day == days - 2, "validation", "test"))),
        "is_clicked": rng.random(n) < p_click, "is_converted": rng.random(n) < p_buy,
        "is_label_mature": day < days - 3,
    }
    dense = {name: rng.normal(0, 1, n) for name in DENSE}
    dense["position"] = position.astype(float)
    dense["item_ctr_1d"] = signal
    dense["item_id_te_ctr"] = world["item_bias"][item - 1] + rng.normal(0, 0.2, n)
    dense["user_id_te_ctr"] = world["user_bias"][user - 1] + rng.normal(0, 0.2, n)
    dense["user_ctr_7d"] = np.where(rng.random(n) < 0.2, np.nan, dense["user_ctr_7d"])
    categorical = {"user_id": user, "item_id": item, "item_category": [f"cat_{c}" for c in world["item_cat"][item - 1]],
                   "item_brand": [f"b{i % 7}" for i in item], "device": rng.choice(["ios", "android", "web"], n),
                   "user_country": rng.choice(["US", "DE"], n), "hour_of_day": rng.integers(0, 24, n)}
    table = pa.table({**columns, **categorical, **dense, "p_click": p_click, "p_buy": p_buy})
    assert set(CATEGORICAL) | set(DENSE) <= set(table.column_names)
    return table


def catalog() -> pa.Table:
    words = ["red lamp", "blue lamp", "red shoes", "green tent", "gold watch", "black mug"]
    return pa.table({
        "item_id": np.arange(1, N_ITEMS + 1), "category": [f"cat_{i % 6}" for i in range(N_ITEMS)],
        "brand": [f"Brand{i % 7}" for i in range(N_ITEMS)], "title": [words[i % 6] for i in range(N_ITEMS)],
        "price": np.linspace(5, 200, N_ITEMS),
    })


@pytest.fixture(scope="module")
def world_table():
    world = synthetic_world()
    return world, synthetic_features(world, 40_000, date(2026, 10, 1), 10)


# ---------------------------------------------------------------- calibration

def test_platt_matches_statsmodels_logit():
    rng = np.random.default_rng(1)
    z = rng.normal(0, 1.5, 20_000)
    labels = (rng.random(len(z)) < 1 / (1 + np.exp(-z))).astype(float)
    scores = 1 / (1 + np.exp(-2.0 * z + 0.5))  # over-confident and shifted
    fitted = fit_calibrator(scores, labels, "platt")
    logit = np.log(scores / (1 - scores))
    reference = sm.Logit(labels, sm.add_constant(logit)).fit(disp=0).params
    assert fitted.params["a"] == pytest.approx(reference[1], abs=1e-4)
    assert fitted.params["b"] == pytest.approx(reference[0], abs=1e-4)
    assert fitted.params["a"] == pytest.approx(0.5, abs=0.05)  # undoes the factor 2


def test_isotonic_hand_case_and_round_trip():
    fitted = fit_calibrator(np.array([0.1, 0.2, 0.3, 0.4]), np.array([0, 1, 0, 1]), "isotonic")
    # Pool-adjacent-violators merges the violating pair (0.2, 0.3) into their mean 0.5.
    assert fitted.apply(np.array([0.1, 0.2, 0.3, 0.4])) == pytest.approx([0.0, 0.5, 0.5, 1.0])
    again = Calibrator.from_dict(fitted.to_dict())
    assert again.apply(np.array([0.25, 0.9])) == pytest.approx(fitted.apply(np.array([0.25, 0.9])))


def test_calibration_errors():
    with pytest.raises(ValueError, match="one of"):
        fit_calibrator(np.array([0.1, 0.2]), np.array([0, 1]), "beta")
    with pytest.raises(ValueError, match="both classes"):
        fit_calibrator(np.array([0.1, 0.2]), np.array([1, 1]))
    with pytest.raises(ValueError, match="equal length"):
        fit_calibrator(np.array([0.1, 0.2]), np.array([1]))


# ---------------------------------------------------------------- id lookup

def test_lookup_sorted_hand_case():
    pos, found = lookup_sorted(np.array([2, 5, 9]), [5, 1, 9, 10, 2])
    assert found.tolist() == [True, False, True, False, True]
    assert pos[found].tolist() == [1, 2, 0]
    pos, found = lookup_sorted(np.array([], np.int64), [3])
    assert found.tolist() == [False]


# ---------------------------------------------------------------- popularity

def test_popularity_hand_case():
    model = fit_popularity(np.array([1, 1, 2, 2, 2, 3]), np.array([1, 0, 1, 1, 0, 0]),
                           np.array([1, 0, 0, 1, 0, 0]), np.array([1, 1, 1, 1, 1, 0]), smoothing=2.0)
    prior = 3 / 6
    assert model.predict(np.array([1, 2, 3]))["click"] == pytest.approx(
        [(1 + 2 * prior) / 4, (2 + 2 * prior) / 5, (0 + 2 * prior) / 3])
    # Conversion over mature rows only: item 3's single row does not count.
    conv_prior = 2 / 5
    assert model.predict(np.array([3, 99]))["conversion"] == pytest.approx([conv_prior, conv_prior])


# ---------------------------------------------------------------- content embeddings

def test_content_embeddings_separate_items_and_are_deterministic():
    items = catalog()
    first = item_content_embeddings(items, n_components=8, seed=3)
    assert first.equals(item_content_embeddings(items, n_components=8, seed=3))
    vectors = np.column_stack([first[f"item_content_{j}"].to_numpy() for j in range(8)])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # Not all alike: many distinct vectors, and items sharing every attribute are closer
    # than items sharing none.
    assert len(np.unique(vectors.round(4), axis=0)) > 20
    same = vectors[0] @ vectors[42]     # item ids 1 and 43: same category, title; brand 0 vs 0
    other = vectors[0] @ vectors[3]     # different category, brand, title
    assert same > other + 0.3


def test_content_embeddings_of_a_tiny_catalog_keep_all_columns():
    items = catalog().slice(0, 3)
    table = item_content_embeddings(items, n_components=16)
    assert [f"item_content_{j}" for j in range(16)] == table.column_names[1:]


def test_content_embeddings_of_a_catalog_without_attributes_are_zero():
    """A landing zone without items events: dim_items names the items, nothing else."""
    items = pa.table({"item_id": [1, 2, 3], "category": pa.nulls(3, pa.string()), "brand": pa.nulls(3, pa.string()),
                      "title": pa.nulls(3, pa.string()), "price": pa.nulls(3, pa.float64())})
    table = item_content_embeddings(items, n_components=4)
    assert table["item_id"].to_pylist() == [1, 2, 3]
    assert [f"item_content_{j}" for j in range(4)] == table.column_names[1:]
    assert all(v == 0.0 for j in range(4) for v in table[f"item_content_{j}"].to_pylist())


# ---------------------------------------------------------------- XGBoost

def test_gbdt_approaches_the_oracle_and_round_trips(world_table, tmp_path):
    _, table = world_table
    train, valid, test = (table.filter(pa.compute.equal(table["split"], s)) for s in ("train", "validation", "test"))
    encoder = FeatureEncoder.fit(train)
    model = train_gbdt(encoder, encoder.transform(train), encoder.transform(valid),
                       GBDTParams(max_depth=3, n_estimators=400, early_stopping_rounds=10))
    scores = model.predict(encoder, encoder.transform(test))
    y = test["is_clicked"].to_numpy(zero_copy_only=False)
    oracle = roc_auc_score(y, test["p_click"].to_numpy())
    assert roc_auc_score(y, scores["click"]) > oracle - 0.02
    assert model.best_iteration["click"] < 399  # early stopping fired
    model.save(tmp_path)
    again = TrainedGBDT.load(tmp_path).predict(encoder, encoder.transform(test))
    assert np.array_equal(again["click"], scores["click"])


# ---------------------------------------------------------------- train -> store -> registry -> scores

FAST = {"xgboost": {"n_estimators": 60, "max_depth": 3},
        "mmoe": {"max_epochs": 3, "batch_size": 2048, "embedding_dim": 8},
        "popularity": {}}


def _train_all(table, content, store, mode="full"):
    candidates = [{"model_id": family, "family": family, "params": params} for family, params in FAST.items()]
    return train_candidates(table, content, candidates, store=store, mode=mode)


def test_train_register_score_is_deterministic(world_table, tmp_path):
    world, table = world_table
    content = item_content_embeddings(catalog(), n_components=4)
    rows = _train_all(table, content, tmp_path / "a")
    assert sorted((r["model_id"], r["task"]) for r in rows) == sorted(
        (f, t) for f in FAST for t in ("click", "conversion"))
    registry = registry_table(tmp_path / "a", [(r["model_id"], r["version"]) for r in rows])
    assert registry.num_rows == 6 and all(registry["is_current"].to_pylist())
    test = table.filter(pa.compute.equal(table["split"], "test"))
    scores = score_candidates(registry, test, content)
    assert scores.num_rows == 6 * test.num_rows
    # The same data and parameters give the same version ids and the same scores.
    rows_again = _train_all(table, content, tmp_path / "b")
    assert [r["version"] for r in rows_again] == [r["version"] for r in rows]
    registry_b = registry_table(tmp_path / "b", [(r["model_id"], r["version"]) for r in rows_again])
    assert score_candidates(registry_b, test, content).equals(scores)
    # Personalised models beat popularity on click; the registry's validation AUC is the real one.
    auc = {r["model_id"]: r["validation_auc"] for r in rows if r["task"] == "click"}
    assert auc["xgboost"] > auc["popularity"] + 0.05 and auc["mmoe"] > auc["popularity"] + 0.02
    valid = table.filter(pa.compute.equal(table["split"], "validation"))
    valid_scores = score_candidates(registry, valid, content).filter(
        (pa.compute.field("model_id") == "xgboost") & (pa.compute.field("task") == "click"))
    ordered = valid.sort_by("event_id")
    assert roc_auc_score(ordered["is_clicked"].to_numpy(zero_copy_only=False),
                         valid_scores["raw_score"].to_numpy()) == pytest.approx(auc["xgboost"], abs=1e-12)


def test_a_version_the_store_holds_is_reused_not_trained_again(world_table, tmp_path, monkeypatch):
    """The same rows, parameters and code give the version already stored: its manifest's rows
    come back and no family trains; other rows give another version; retrain=True trains."""
    from receval.models import training
    _, table = world_table
    content = item_content_embeddings(catalog(), n_components=4)
    first = _train_all(table, content, tmp_path)
    calls = []
    for name, spec in list(training.FAMILIES.items()):
        def counted(*args, _train=spec.train, _name=name):
            calls.append(_name)
            return _train(*args)
        monkeypatch.setitem(training.FAMILIES, name, training.Family(spec.params, counted, spec.predict, spec.load))
    again = _train_all(table, content, tmp_path)
    assert calls == [] and again == first
    # One label flipped: a different version, trained.
    clicked = table["is_clicked"].to_numpy(zero_copy_only=False).copy()
    train_row = table["split"].to_pylist().index("train")
    clicked[train_row] = not clicked[train_row]
    flipped = table.set_column(table.column_names.index("is_clicked"), "is_clicked", pa.array(clicked))
    changed = train_candidate(flipped, content, model_id="popularity", family="popularity", store=tmp_path)
    assert calls == ["popularity"] and changed[0]["version"] != first[-1]["version"]
    retrained = train_candidate(table, content, model_id="popularity", family="popularity", store=tmp_path,
                                retrain=True)
    assert calls == ["popularity"] * 2 and retrained[0]["version"] == [
        r for r in first if r["model_id"] == "popularity"][0]["version"]


def test_warm_start_records_its_parent_and_trains_on_new_days(world_table, tmp_path):
    world, table = world_table
    content = item_content_embeddings(catalog(), n_components=4)
    # Week 1: days 0..9 of the fixture; day 2 adds one more training day after it.
    first = _train_all(table, content, tmp_path)
    later = synthetic_features(world, 40_000, date(2026, 10, 2), 10, first_event=10**6)
    second = _train_all(later, content, tmp_path, mode="warm_start")
    by_model = {r["model_id"]: r for r in first}
    for row in second:
        parent = by_model[row["model_id"]]
        assert row["training_mode"] == "warm_start"
        assert row["parent_version"] == parent["version"]
        assert row["train_start"] > parent["train_end"]   # only the days since the parent's window
        assert row["feature_hash"] == parent["feature_hash"]
    manifests = read_manifests(tmp_path)
    assert len(manifests) == 12  # both versions of the three models, two tasks each


def test_auto_mode_warm_starts_daily_and_retrains_in_full_once_the_last_full_retrain_is_old(world_table, tmp_path):
    world, table = world_table
    content = item_content_embeddings(catalog(), n_components=4)
    train = lambda rows, store, **kw: train_candidate(  # noqa: E731
        rows, content, model_id="p", family="popularity", store=store, mode="auto", **kw)[0]
    first = train(table, tmp_path / "a")
    assert first["training_mode"] == "full"                  # a fresh store: no parent
    days = [synthetic_features(world, 8_000, date(2026, 10, 1) + timedelta(days=d), 10, first_event=d * 10**6)
            for d in (1, 2)]
    second = train(days[0], tmp_path / "a")
    third = train(days[1], tmp_path / "a", full_retrain_days=2)
    assert (second["training_mode"], second["parent_version"]) == ("warm_start", first["version"])
    # the full retrain behind the parent (first) ended 2 days before this window: retrain
    assert (third["training_mode"], third["parent_version"]) == ("full", None)
    train(table, tmp_path / "b")
    assert train(days[0], tmp_path / "b", full_retrain_days=1)["training_mode"] == "full"


def test_warm_start_without_a_parent_trains_in_full(world_table, tmp_path):
    _, table = world_table
    content = item_content_embeddings(catalog(), n_components=4)
    row = train_candidate(table, content, model_id="p", family="popularity", store=tmp_path, mode="warm_start")[0]
    assert row["training_mode"] == "full" and row["parent_version"] is None


def test_training_errors(world_table, tmp_path):
    _, table = world_table
    content = item_content_embeddings(catalog(), n_components=4)
    with pytest.raises(ValueError, match="unknown model family"):
        train_candidate(table, content, model_id="x", family="lightgbm", store=tmp_path)
    no_validation = table.filter(pa.compute.equal(table["split"], "train"))
    with pytest.raises(ValueError, match="no rows in the 'validation' split"):
        train_candidate(no_validation, content, model_id="x", family="popularity", store=tmp_path)


def test_click_only_data_trains_the_click_task_and_registers_the_conversion_task_as_missing(world_table, tmp_path):
    """A log without purchases: every family trains click; conversion is registered, not
    trained, and never scored. XGBoost's click booster is the one full data trains."""
    _, table = world_table
    content = item_content_embeddings(catalog(), n_components=4)
    no_purchases = table.set_column(table.column_names.index("is_converted"), "is_converted",
                                    pa.array(np.zeros(table.num_rows, bool)))
    rows = {(r["model_id"], r["task"]): r for r in _train_all(no_purchases, content, tmp_path / "click_only")}
    for family in FAST:
        assert rows[(family, "click")]["status"] == "trained"
        conversion = rows[(family, "conversion")]
        assert conversion["status"] == "no_conversion_data"
        assert conversion["status_reason"] == f"conversion task of {family} not trained: no purchase label in the train split"
        assert conversion.get("calibration") is None and conversion.get("validation_auc") is None
    full = {(r["model_id"], r["task"]): r for r in _train_all(table, content, tmp_path / "full")}
    assert rows[("xgboost", "click")]["validation_auc"] == pytest.approx(full[("xgboost", "click")]["validation_auc"], abs=1e-12)

    versions = [(r["model_id"], r["version"]) for r in rows.values()]
    registry = registry_table(tmp_path / "click_only", versions)
    assert sorted(zip(registry["task"].to_pylist(), registry["status"].to_pylist())).count(("conversion", "no_conversion_data")) == 3
    test = table.filter(pa.compute.equal(table["split"], "test"))
    scores = score_candidates(registry, test, content)
    assert set(scores["task"].to_pylist()) == {"click"} and scores.num_rows == 3 * test.num_rows


def test_a_candidate_the_rows_cannot_train_is_registered_and_the_others_train(world_table, tmp_path):
    _, table = world_table
    content = item_content_embeddings(catalog(), n_components=4)
    no_clicks = table.set_column(table.column_names.index("is_clicked"), "is_clicked",
                                 pa.array(np.zeros(table.num_rows, bool)))
    rows = _train_all(no_clicks, content, tmp_path)
    assert {(r["model_id"], r["task"], r["status"]) for r in rows} == {
        (f, t, "not_trained") for f in FAST for t in ("click", "conversion")}
    assert rows[0]["status_reason"] == "xgboost not trained: the train split's click labels are all 0"
    assert read_manifests(tmp_path) == []  # nothing stored
    no_validation = table.filter(pa.compute.equal(table["split"], "train"))
    [row, _] = train_candidates(no_validation, content, [{"model_id": "p", "family": "popularity"}], store=tmp_path)
    assert row["status"] == "not_trained" and "no rows in the 'validation' split" in row["status_reason"]
