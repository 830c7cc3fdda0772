"""receval.models.sampling and the negative sample the feature models train on: which rows
are kept, and that the inverse-probability weights keep the models calibrated and as good."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from sklearn.metrics import roc_auc_score

from models.synthetic import catalog
from receval.models.content import item_content_embeddings
from receval.models.registry import registry_table
from receval.models.sampling import effective_rate, negative_sample
from receval.models.training import score_candidates, train_candidate

FAST = {"xgboost": {"n_estimators": 60, "max_depth": 3},
        "mmoe": {"max_epochs": 8, "batch_size": 512, "embedding_dim": 8}}


def test_every_click_is_kept_and_a_share_rate_of_the_rest_with_weight_one_over_rate():
    rng = np.random.default_rng(0)
    ids = rng.choice(10**12, 200_000, replace=False)
    clicked = rng.random(ids.size) < 0.15
    keep, weight, rate = negative_sample(ids, clicked, 0.25)
    assert rate == 0.25
    assert keep[clicked].all()
    n_neg = (~clicked).sum()
    kept_share = keep[~clicked].mean()
    assert abs(kept_share - 0.25) < 4 * np.sqrt(0.25 * 0.75 / n_neg)   # 4 binomial SE
    assert weight.shape == (keep.sum(),)
    np.testing.assert_array_equal(weight, np.where(clicked[keep], 1.0, 4.0).astype(np.float32))
    # the weighted count of the kept rows estimates the number of rows
    assert abs(weight.sum() - ids.size) < 4 * np.sqrt(n_neg * 0.75 / 0.25)


def test_the_kept_rows_depend_on_the_event_id_only():
    rng = np.random.default_rng(1)
    ids = rng.choice(10**9, 50_000, replace=False)
    clicked = np.zeros(ids.size, bool)
    keep, _, _ = negative_sample(ids, clicked, 0.3)
    order = rng.permutation(ids.size)
    keep_shuffled, _, _ = negative_sample(ids[order], clicked[order], 0.3)
    np.testing.assert_array_equal(keep_shuffled, keep[order])
    # a lower rate keeps a subset of the rows a higher one keeps
    keep_low, _, _ = negative_sample(ids, clicked, 0.1)
    assert (keep_low <= keep).all() and keep_low.sum() < keep.sum()


def test_rate_one_keeps_every_row_unweighted_and_bad_rates_fail():
    ids, clicked = np.arange(1000), np.zeros(1000, bool)
    keep, weight, _ = negative_sample(ids, clicked, 1.0)
    assert keep.all() and (weight == 1).all()
    for rate in (0.0, -0.5, 1.5):
        with pytest.raises(ValueError, match="sampling rate must be in"):
            negative_sample(ids, clicked, rate)
    with pytest.raises(ValueError, match="min_negatives must be >= 0"):
        negative_sample(ids, clicked, 0.5, min_negatives=-1)


def test_the_rate_rises_to_keep_at_least_min_negatives():
    assert effective_rate(1_000_000, 0.25, 100_000) == 0.25
    assert effective_rate(1_000_000, 0.05, 100_000) == pytest.approx(0.1)
    assert effective_rate(50_000, 0.25, 100_000) == 1.0
    ids, clicked = np.arange(50_000), np.zeros(50_000, bool)
    keep, weight, rate = negative_sample(ids, clicked, 0.25, min_negatives=100_000)
    assert rate == 1.0 and keep.all() and (weight == 1).all()


@pytest.mark.parametrize("family", sorted(FAST))
def test_a_model_trained_on_a_weighted_negative_sample_is_calibrated_and_ranks_as_well(world_table, tmp_path, family):
    """Trained on every click and a quarter of the other rows, weighted 4: the raw click score's
    mean on the validation rows equals their click rate as the model fitted on every row's
    does (a sample fitted unweighted would put it near p / (p + (1 - p) / 4), about twice as
    high), and the test AUC is within 0.01 of the full model's (about 2 SE on 8,000 rows)."""
    _, table = world_table
    content = item_content_embeddings(catalog(), n_components=4)
    test = table.filter(pc.equal(table["split"], "test"))
    valid = table.filter(pc.equal(table["split"], "validation"))
    result = {}
    for rate in (1.0, 0.25):
        rows = train_candidate(table, content, model_id=family, family=family, store=tmp_path / str(rate),
                               params={**FAST[family], "negative_sample_rate": rate, "negative_sample_min": 0})
        registry = registry_table(tmp_path / str(rate), [(rows[0]["model_id"], rows[0]["version"])])
        scores = {split: score_candidates(registry, rows_, content).filter(pc.field("task") == "click")
                  for split, rows_ in (("valid", valid), ("test", test))}
        result[rate] = {
            "version": rows[0]["version"], "n_train_rows": rows[0]["n_train_rows"],
            "valid_mean": float(np.mean(scores["valid"]["raw_score"].to_numpy())),
            "test_auc": roc_auc_score(test.sort_by("event_id")["is_clicked"].to_numpy(zero_copy_only=False),
                                      scores["test"]["raw_score"].to_numpy()),
        }
    click_rate = float(np.mean(valid["is_clicked"].to_numpy(zero_copy_only=False)))
    unweighted = click_rate / (click_rate + (1 - click_rate) * 0.25)
    assert result[1.0]["valid_mean"] == pytest.approx(click_rate, abs=0.015)
    assert result[0.25]["valid_mean"] == pytest.approx(click_rate, abs=0.015)
    assert unweighted > click_rate + 0.1
    assert result[0.25]["test_auc"] > result[1.0]["test_auc"] - 0.01
    # the sample is part of the version; the registry counts the window's rows, not the sample's
    assert result[0.25]["version"] != result[1.0]["version"]
    assert result[0.25]["n_train_rows"] == result[1.0]["n_train_rows"]


def test_a_window_with_fewer_unclicked_rows_than_the_minimum_trains_on_every_row(world_table, tmp_path):
    """The default minimum (200,000 unclicked rows) is above this table's train split, so
    the model is the one fitted on every row."""
    _, table = world_table
    content = item_content_embeddings(catalog(), n_components=4)
    test = table.filter(pc.equal(table["split"], "test"))
    scores = []
    for rate in (1.0, 0.25):
        rows = train_candidate(table, content, model_id="xgboost", family="xgboost", store=tmp_path / str(rate),
                               params={**FAST["xgboost"], "negative_sample_rate": rate})
        registry = registry_table(tmp_path / str(rate), [(rows[0]["model_id"], rows[0]["version"])])
        scores.append(score_candidates(registry, test, content)["raw_score"])
    assert scores[0].equals(scores[1])


@pytest.mark.parametrize("family", sorted(FAST))
def test_a_rate_outside_zero_to_one_is_refused(world_table, tmp_path, family):
    _, table = world_table
    content = item_content_embeddings(catalog(), n_components=4)
    with pytest.raises(ValueError, match="negative_sample_rate must be in"):
        train_candidate(table, content, model_id=family, family=family, store=tmp_path,
                        params={"negative_sample_rate": 0.0})
