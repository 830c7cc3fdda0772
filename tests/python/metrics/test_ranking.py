"""Ranking metrics: sklearn ndcg_score, hand cases, tie expectations, edge cases."""

import math

import numpy as np
import pyarrow as pa
import pytest
from sklearn.metrics import ndcg_score

from receval.metrics import mrr, ndcg_at_k, per_request_metrics, ranking_deltas, ranking_metrics, recall_at_k


def _lists(seed, n_req=200, lengths=(1, 25), decimals=1, p=(0.7, 0.2, 0.1)):
    rng = np.random.default_rng(seed)
    ln = rng.integers(lengths[0], lengths[1] + 1, n_req)
    g = np.repeat(rng.permutation(10_000)[:n_req] * 7, ln)  # sparse, non-dense ids
    s = np.round(rng.random(g.size), decimals)
    rel = rng.choice([0, 1, 2], g.size, p=p)
    return g, s, rel


def _sk_per_request(g, s, rel, k):
    out = {}
    for q in np.unique(g):
        m = g == q
        if rel[m].sum() == 0:
            out[q] = np.nan
        elif m.sum() == 1:
            out[q] = 1.0
        else:
            out[q] = ndcg_score(rel[m][None, :], s[m][None, :], k=k)
    return out


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("k", [1, 3, 10, 50])
def test_ndcg_matches_sklearn_linear_gain_with_ties(seed, k):
    g, s, rel = _lists(seed)
    pr = per_request_metrics(g, s, rel, k=k, metrics=("ndcg",), gain="linear")
    ref = _sk_per_request(g, s, rel, k)
    ours = dict(zip(pr.group_ids.tolist(), pr.values[f"ndcg@{k}"]))
    for q, v in ref.items():
        if math.isnan(v):
            assert math.isnan(ours[q])
        else:
            assert abs(ours[q] - v) < 1e-12, q


def test_ndcg_exponential_gain_equals_sklearn_on_transformed_relevance():
    g, s, rel = _lists(9)
    pr = per_request_metrics(g, s, rel, k=5, metrics=("ndcg",))  # 2^rel - 1
    ref = _sk_per_request(g, s, (2.0 ** rel - 1), 5)
    ours = dict(zip(pr.group_ids.tolist(), pr.values["ndcg@5"]))
    assert max(abs(ours[q] - v) for q, v in ref.items() if not math.isnan(v)) < 1e-12


def test_row_order_does_not_matter():
    g, s, rel = _lists(2)
    a = ranking_metrics(g, s, rel, k=[3, 10])
    perm = np.random.default_rng(0).permutation(g.size)
    b = ranking_metrics(g[perm], s[perm], rel[perm], k=[3, 10])
    for key in a:
        assert a[key].value == pytest.approx(b[key].value, abs=1e-14)
        assert a[key].n == b[key].n and a[key].n_excluded == b[key].n_excluded


def test_string_group_ids_and_pyarrow():
    g, s, rel = _lists(4)
    ref = ndcg_at_k(g, s, rel, 10).value
    assert ndcg_at_k(g.astype(str), s, rel, 10).value == pytest.approx(ref, abs=1e-14)
    assert ndcg_at_k(pa.array(g), pa.array(s), pa.array(rel), 10).value == pytest.approx(ref, abs=1e-14)


def test_hand_case_no_ties():
    # one request, scores 3 > 2 > 1, relevance 0, 2 (purchase), 1 (click)
    g, s, rel = [7, 7, 7], [3.0, 2.0, 1.0], [0, 2, 1]
    dcg = 3 / math.log2(3) + 1 / math.log2(4)
    idcg = 3 / 1 + 1 / math.log2(3)
    assert ndcg_at_k(g, s, rel, 3).value == pytest.approx(dcg / idcg, abs=1e-15)
    assert ndcg_at_k(g, s, rel, 1).value == 0.0
    assert mrr(g, s, rel).value == pytest.approx(0.5)
    assert recall_at_k(g, s, rel, 2).value == pytest.approx(0.5)
    assert recall_at_k(g, s, rel, 3).value == pytest.approx(1.0)


def test_hand_case_with_ties_is_expectation_over_tie_orders():
    # items 0 and 1 tied at the top; only item 1 is relevant (purchase, gain 3)
    g, s, rel = [1, 1, 1], [1.0, 1.0, 0.0], [0, 2, 0]
    # DCG = mean gain 1.5 over ranks 1 and 2; IDCG = 3
    exp = 1.5 * (1 + 1 / math.log2(3)) / 3
    assert ndcg_at_k(g, s, rel, 3).value == pytest.approx(exp, abs=1e-15)
    assert mrr(g, s, rel).value == pytest.approx(0.5 * 1 + 0.5 * 0.5)
    assert recall_at_k(g, s, rel, 1).value == pytest.approx(0.5)
    # pessimistic / optimistic tie breaking
    assert mrr(g, s, rel, ties="pessimistic").value == pytest.approx(0.5)
    assert mrr(g, s, rel, ties="optimistic").value == pytest.approx(1.0)
    assert ndcg_at_k(g, s, rel, 1, ties="optimistic").value == pytest.approx(1.0)
    assert ndcg_at_k(g, s, rel, 1, ties="pessimistic").value == 0.0


def test_mrr_and_recall_tie_expectation_by_enumeration():
    rng = np.random.default_rng(5)
    g, s, rel = _lists(5, n_req=60, lengths=(2, 7), decimals=1)
    pr = per_request_metrics(g, s, rel, k=3)
    import itertools
    for i, q in enumerate(pr.group_ids[:25]):
        m = g == q
        sq, rq = s[m], rel[m] > 0
        if not rq.any():
            continue
        rr, rc = [], []
        # enumerate every order consistent with the scores (perms of tie blocks)
        for perm in itertools.permutations(range(sq.size)):
            perm = np.array(perm)
            if np.any(np.diff(sq[perm]) > 0):
                continue
            hits = rq[perm]
            rr.append(1 / (np.argmax(hits) + 1))
            rc.append(hits[:3].sum() / hits.sum())
        assert pr.values["mrr"][i] == pytest.approx(np.mean(rr), abs=1e-12)
        assert pr.values["recall@3"][i] == pytest.approx(np.mean(rc), abs=1e-12)
    del rng


def test_requests_without_relevant_items_are_excluded_and_counted():
    g = [1, 1, 2, 2, 3, 3]
    s = [0.9, 0.1, 0.5, 0.4, 0.3, 0.2]
    rel = [1, 0, 0, 0, 0, 0]
    r = ndcg_at_k(g, s, rel, 10)
    assert r.value == 1.0 and r.n == 1 and r.n_excluded == 2
    r = ndcg_at_k([1, 1], [0.1, 0.2], [0, 0], 10)
    assert math.isnan(r.value) and "no request has a relevant item" in r.reason and r.n_excluded == 1
    r = ndcg_at_k([], [], [], 10)
    assert math.isnan(r.value) and r.reason == "empty input"


def test_k_list_returns_dict_and_k_beyond_list_length():
    g, s, rel = _lists(1)
    out = ndcg_at_k(g, s, rel, [5, 10])
    assert set(out) == {5, 10}
    big = ndcg_at_k(g, s, rel, 1000).value
    assert big == pytest.approx(ndcg_at_k(g, s, rel, 25).value)


def test_clt_and_cluster_and_bootstrap_intervals():
    g, s, rel = _lists(3, n_req=400)
    per = per_request_metrics(g, s, rel, k=10).values["ndcg@10"]
    v = per[~np.isnan(per)]
    r = ndcg_at_k(g, s, rel, 10)
    assert r.method == "clt" and r.n == v.size
    assert r.std_error == pytest.approx(v.std(ddof=1) / math.sqrt(v.size))
    users = (g // 7) % 50  # constant within a request
    rc = ndcg_at_k(g, s, rel, 10, clusters=users)
    assert rc.method == "clt_cluster" and rc.n_groups <= 50
    rb = ndcg_at_k(g, s, rel, 10, n_bootstrap=300, random_state=1)
    assert rb.method == "bootstrap_percentile"
    assert rb.std_error == pytest.approx(r.std_error, rel=0.2)
    with pytest.raises(ValueError, match="constant within each request"):
        ndcg_at_k(g, s, rel, 10, clusters=np.arange(g.size))


def test_paired_deltas():
    g, s, rel = _lists(6, n_req=300)
    rng = np.random.default_rng(0)
    s2 = np.round(s + rng.normal(0, 0.3, s.size), 1)
    d = ranking_deltas(g, s, s2, rel, k=10)
    a = ranking_metrics(g, s, rel, k=10)
    b = ranking_metrics(g, s2, rel, k=10)
    for key in a:
        assert d[f"delta_{key}"].value == pytest.approx(a[key].value - b[key].value, abs=1e-12)
        assert d[f"delta_{key}"].extra["model"] == pytest.approx(a[key].value)
    z = ranking_deltas(g, s, s, rel, k=10, n_bootstrap=50)
    assert z["delta_ndcg@10"].value == 0 and z["delta_ndcg@10"].std_error == 0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(group_ids=[1, 1], scores=[0.1], relevance=[0, 1]), "length mismatch"),
        (dict(group_ids=[1, 1], scores=[0.1, np.nan], relevance=[0, 1]), "`scores` contains 1 NaN/null value"),
        (dict(group_ids=[1, 1], scores=[0.1, 0.2], relevance=[0, -1]), "`relevance` must be >= 0"),
        (dict(group_ids=[1, 1], scores=[0.1, 0.2], relevance=[0, 1], k=0), "`k` must be an integer >= 1"),
        (dict(group_ids=[1, 1], scores=[0.1, 0.2], relevance=[0, 1], k=[]), "`k` is an empty list"),
        (dict(group_ids=[1, 1], scores=[0.1, 0.2], relevance=[0, 1], ties="random"), "`ties` must be one of"),
        (dict(group_ids=[1, 1], scores=[0.1, 0.2], relevance=[0, 1], gain="log"), "`gain` must be one of"),
        (dict(group_ids=[1.0, np.nan], scores=[0.1, 0.2], relevance=[0, 1]), "`group_ids` contains 1 NaN"),
    ],
)
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        per_request_metrics(**kwargs)


def test_unequal_lengths_use_padding_buckets():
    g, s, rel = _lists(8, n_req=300, lengths=(1, 300))
    pr = per_request_metrics(g, s, rel, k=10, gain="linear")
    ref = _sk_per_request(g, s, rel, 10)
    ours = dict(zip(pr.group_ids.tolist(), pr.values["ndcg@10"]))
    assert max(abs(ours[q] - v) for q, v in ref.items() if not math.isnan(v)) < 1e-12
    assert (pr.n_items == np.bincount(np.unique(g, return_inverse=True)[1])).all()


def test_float_and_large_integer_relevance_paths_agree_with_sklearn():
    g, s, rel = _lists(12, n_req=100)
    relf = rel * 0.75  # non-integer grades: float path
    pr = per_request_metrics(g, s, relf, k=4, metrics=("ndcg",), gain="linear")
    ref = _sk_per_request(g, s, relf, 4)
    ours = dict(zip(pr.group_ids.tolist(), pr.values["ndcg@4"]))
    assert max(abs(ours[q] - v) for q, v in ref.items() if not math.isnan(v)) < 1e-12
    big = rel * 100  # integers above the int8 table
    pr = per_request_metrics(g, s, big, k=4, metrics=("ndcg",), gain="linear")
    ours = dict(zip(pr.group_ids.tolist(), pr.values["ndcg@4"]))
    assert max(abs(ours[q] - v) for q, v in _sk_per_request(g, s, big, 4).items() if not math.isnan(v)) < 1e-12
    a = ndcg_at_k(g, s, rel.astype(np.int64), 4).value
    assert ndcg_at_k(g, s, rel.astype(float), 4).value == pytest.approx(a, abs=1e-14)


def test_cluster_se_same_for_sorted_and_shuffled_rows():
    g, s, rel = _lists(13, n_req=300)
    users = (g // 7) % 40
    order = np.argsort(g, kind="stable")
    a = ndcg_at_k(g[order], s[order], rel[order], 5, clusters=users[order])
    perm = np.random.default_rng(1).permutation(g.size)
    b = ndcg_at_k(g[perm], s[perm], rel[perm], 5, clusters=users[perm])
    assert a.std_error == pytest.approx(b.std_error, rel=1e-12)
    assert a.n_groups == b.n_groups


@pytest.mark.parametrize("ties", ["pessimistic", "optimistic"])
def test_pessimistic_optimistic_match_explicit_sort(ties):
    rng = np.random.default_rng(3)
    L, G = 6, 150
    g = np.repeat(np.arange(G), L)
    s = np.round(rng.random(G * L), 1)
    rel = rng.choice([0, 1, 2], G * L, p=[0.6, 0.3, 0.1])
    pr = per_request_metrics(g, s, rel, k=[2, 4], ties=ties)
    disc = 1 / np.log2(np.arange(2, L + 2))
    for q in range(G):
        m = g == q
        sq, rq = s[m], rel[m]
        if rq.sum() == 0:
            assert math.isnan(pr.values["mrr"][q])
            continue
        r = rq[np.lexsort((rq if ties == "pessimistic" else -rq, -sq))]
        gain, ideal = 2.0 ** r - 1, np.sort(2.0 ** rq - 1)[::-1]
        for k in (2, 4):
            assert pr.values[f"ndcg@{k}"][q] == pytest.approx(gain[:k] @ disc[:k] / (ideal[:k] @ disc[:k]), abs=1e-12)
            assert pr.values[f"recall@{k}"][q] == pytest.approx((r[:k] > 0).sum() / (r > 0).sum(), abs=1e-12)
        assert pr.values["mrr"][q] == pytest.approx(1 / (np.argmax(r > 0) + 1), abs=1e-12)
