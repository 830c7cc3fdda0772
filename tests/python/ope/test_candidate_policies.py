"""The candidate models' target-policy tables (receval.ope.candidate_policies)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from receval.ope.candidate_policies import candidate_policy_table
from receval.ope.target_policies import plackett_luce_marginals_exact


def _scores() -> pd.DataFrame:
    # request 1: four candidates; request 2: three (a shorter set); request 3: one (< k, left out)
    return pd.DataFrame({
        "model_id": "m",
        "request_id": [1, 1, 1, 1, 2, 2, 2, 3],
        "item_id": [10, 11, 12, 13, 20, 21, 22, 30],
        "calibrated_score": [0.1, 0.4, 0.2, 0.3, 0.5, 0.25, 0.5, 0.9],
    })


def _shown() -> pd.DataFrame:
    return pd.DataFrame({"request_id": [1, 1, 2, 2], "item_id": [12, 13, 20, 21]})


def _logit(p):
    p = np.asarray(p, float)
    return np.log(p) - np.log1p(-p)


def test_top_k_lists_the_highest_scores_in_order():
    table = candidate_policy_table(_scores(), _shown(), k=2, rows="shown").to_pandas()
    top = table[table.policy_id == "m_top_k"].sort_values(["request_id", "position"])
    # request 1: 0.4 (item 11) then 0.3 (item 13); request 2: a tie at 0.5, lower item id first
    assert top[["request_id", "item_id", "position"]].values.tolist() == [[1, 11, 1], [1, 13, 2], [2, 20, 1], [2, 22, 2]]
    assert (top.target_probability == 1.0).all()
    assert 3 not in set(table.request_id)


def test_softmax_rows_are_the_plackett_luce_marginals_of_the_shown_items():
    table = candidate_policy_table(_scores(), _shown(), k=2, temperature=0.7, n_samples=200_000,
                                   random_state=3, rows="all").to_pandas()
    soft = table[table.policy_id == "m_softmax"]
    exact = plackett_luce_marginals_exact(_logit([[0.1, 0.4, 0.2, 0.3]]), 2, temperature=0.7)[0]
    got = soft[soft.request_id == 1].pivot(index="item_id", columns="position", values="target_probability")
    assert np.allclose(got.loc[[10, 11, 12, 13]].to_numpy(), exact, atol=0.005)
    # position 1 is the softmax of logit / T exactly; each position's mass sums to 1
    w = np.exp(_logit([0.1, 0.4, 0.2, 0.3]) / 0.7)
    assert np.allclose(got[1].loc[[10, 11, 12, 13]].to_numpy(), w / w.sum(), rtol=1e-12)
    assert np.allclose(soft.groupby(["request_id", "position"]).target_probability.sum(), 1.0)
    # rows="shown" keeps the shown items' rows, with the same probabilities
    shown = candidate_policy_table(_scores(), _shown(), k=2, temperature=0.7, n_samples=200_000,
                                   random_state=3, rows="shown").to_pandas()
    shown_soft = shown[shown.policy_id == "m_softmax"]
    assert set(map(tuple, shown_soft[["request_id", "item_id"]].values)) == {(1, 12), (1, 13), (2, 20), (2, 21)}
    merged = shown_soft.merge(soft, on=["request_id", "item_id", "position"], suffixes=("", "_all"))
    assert len(merged) == len(shown_soft) and np.allclose(merged.target_probability, merged.target_probability_all)


def test_one_policy_pair_per_model_and_bad_input():
    two = pd.concat([_scores(), _scores().assign(model_id="n")])
    table = candidate_policy_table(two, _shown(), k=2).to_pandas()
    assert set(table.policy_id) == {"m_top_k", "m_softmax", "n_top_k", "n_softmax"}
    with pytest.raises(ValueError, match="calibrated_score"):
        candidate_policy_table(_scores().drop(columns="calibrated_score"), _shown(), k=2)
    with pytest.raises(ValueError, match="rows"):
        candidate_policy_table(_scores(), _shown(), k=2, rows="some")
