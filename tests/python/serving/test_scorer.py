"""The serving path (receval.serving) end to end on the tiny warehouse: the two-stage
scorer's training/serving consistency, fallback and shadow scoring, and the serve-bench logs.
Nothing here is timed beyond coarse bounds."""
from __future__ import annotations

import time

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dbt_runner import TINY_VARS, Warehouse
from receval.cli import main
from receval.contract import ENTITY_SCHEMAS
from receval.models.training import attach_content
from receval.serving import (
    ColumnEncoder, MMoERanker, Request, ShadowWorker, Snapshot, StoredRanker, TwoStageScorer, load_popularity,
)
from receval.serving.bench import build_server


def _arrow(warehouse, sql: str) -> pa.Table:
    with duckdb.connect(str(warehouse.database), read_only=True) as con:
        return con.sql(sql).to_arrow_table()


@pytest.fixture(scope="module")
def store(tiny_warehouse):
    return tiny_warehouse.root / "models"


@pytest.fixture(scope="module")
def mmoe_version(tiny_warehouse) -> str:
    rows = _arrow(tiny_warehouse, "select distinct version from fct_model_scores where model_id = 'mmoe'")
    assert rows.num_rows == 1
    return rows["version"][0].as_py()


@pytest.fixture(scope="module")
def server(tiny_warehouse, store):
    return build_server(store, tiny_warehouse.marts_path)


def _request(server, i: int = 1, user=None) -> Request:
    user = int(server.scorer.snapshot.user_ids[i]) if user is None else user
    return Request(i, user, "ios", 20, server.as_of)


def test_serving_scores_equal_offline_scores(tiny_warehouse, store, mmoe_version):
    """Test-split rows encoded column-wise and scored by the serving ranker reproduce
    fct_model_scores' raw click scores of the same MMoE version."""
    features = _arrow(tiny_warehouse, "select * from int_features__impressions where split = 'test'")
    content = _arrow(tiny_warehouse, "select * from int_features__item_content")
    table = attach_content(features, content)
    champion = StoredRanker.load(store, "mmoe", mmoe_version)
    reference = champion.encoder.transform(table)
    fast = ColumnEncoder(champion.encoder).encode({c: table[c].to_pylist() for c in champion.encoder.columns})
    np.testing.assert_array_equal(fast.categorical, reference.categorical)
    np.testing.assert_array_equal(fast.dense, reference.dense)
    np.testing.assert_array_equal(np.isnan(fast.raw_dense), np.isnan(reference.raw_dense))
    scores = MMoERanker(champion.model).score(fast)
    offline = _arrow(tiny_warehouse, f"select event_id, raw_score from fct_model_scores where model_id = 'mmoe' "
                                     f"and task = 'click' and version = '{mmoe_version}'").sort_by("event_id")
    assert offline["event_id"].to_pylist() == table["event_id"].to_pylist()
    np.testing.assert_allclose(scores, offline["raw_score"].to_numpy(), rtol=0, atol=1e-6)


def test_snapshot_assembly_equals_feature_encoder(tiny_warehouse, store, mmoe_version):
    """Snapshot.assemble equals FeatureEncoder.transform on the same (user, item, context) rows
    joined from the snapshot marts in SQL."""
    champion = StoredRanker.load(store, "mmoe", mmoe_version)
    content = _arrow(tiny_warehouse, "select * from int_features__item_content")
    marts = {n: _arrow(tiny_warehouse, f"select * from {n}") for n in
             ("fct_online_features_users", "fct_online_features_items", "fct_online_features_user_categories")}
    snapshot = Snapshot(champion.encoder, *marts.values(), content)
    users = _arrow(tiny_warehouse, "select user_id from fct_online_features_users "
                                   "order by len(user_recent_item_ids) desc, user_id limit 3")["user_id"].to_pylist()
    for user in users:
        rows = attach_content(_arrow(tiny_warehouse, f"""
            select row_number() over (order by i.item_id) as event_id, u.* exclude (feature_ts, user_recent_item_ids),
                   i.* exclude (feature_ts), uc.user_category_impressions_30d, uc.user_category_click_share_30d,
                   'android' as device, 7 as hour_of_day, 1 as position,
                   cast(list_contains(u.user_recent_item_ids, i.item_id) as double) as item_in_user_recent
            from fct_online_features_users as u
            cross join fct_online_features_items as i
            left join fct_online_features_user_categories as uc
                on uc.user_id = u.user_id and uc.item_category = i.item_category
            where u.user_id = {user}"""), content)
        reference = champion.encoder.transform(rows)
        served = snapshot.assemble(user, rows["item_id"].to_numpy(), device="android", hour_of_day=7)
        assert rows["item_in_user_recent"].to_numpy().sum() > 0
        np.testing.assert_array_equal(served.categorical, reference.categorical)
        np.testing.assert_array_equal(served.dense, reference.dense)
        np.testing.assert_array_equal(served.raw_dense, reference.raw_dense)


def test_ok_response_is_the_top_k_by_click_score(server, store):
    # a generous budget: the shared test machine's timing must not turn this into a fallback
    response = _scorer(server, store=store, budget_ms=1e4).serve(_request(server))
    assert response.status == "ok" and response.model_id == "mmoe"
    assert len(response.item_ids) == len(set(response.item_ids.tolist())) == server.scorer.k
    assert np.all(np.diff(response.scores) <= 0)
    assert set(response.latency_ms) == {"retrieve", "features", "rank", "total"}


def _popularity_top(server, store):
    rates = load_popularity(store).predict(server.scorer.index.item_ids)["click"]
    return server.scorer.index.item_ids[np.argsort(-rates, kind="stable")[:server.scorer.k]]


def _scorer(server, **kwargs) -> TwoStageScorer:
    s = server.scorer
    args = dict(ranker=s.ranker, budget_ms=s.budget_ms, shadow=None) | kwargs
    return TwoStageScorer(s.index, s.factors, s.snapshot, args.pop("ranker"), load_popularity(args.pop("store")),
                          model_id="mmoe", **args)


def test_fallback_when_over_budget(server, store):
    scorer = _scorer(server, store=store, budget_ms=0.001)
    response = scorer.serve(_request(server))
    assert response.status == "fallback" and response.model_id == "popularity"
    assert "budget" in response.reason
    np.testing.assert_array_equal(response.item_ids, _popularity_top(server, store))
    assert response.features is None and "total" in response.latency_ms


def test_fallback_when_ranking_raises(server, store):
    class Broken:
        def score(self, matrix):
            raise RuntimeError("model server down")

    response = _scorer(server, store=store, ranker=Broken()).serve(_request(server))
    assert response.status == "fallback" and "model server down" in response.reason
    np.testing.assert_array_equal(response.item_ids, _popularity_top(server, store))


def test_shadow_is_logged_for_every_request_off_the_critical_path(server, store):
    class Slow:
        model_id = "slow_challenger"

        def score(self, matrix, item_ids):
            time.sleep(0.2)
            return np.zeros(len(item_ids))

    worker = ShadowWorker(Slow(), server.scorer.snapshot)
    scorer = _scorer(server, store=store, budget_ms=1e4, shadow=worker)
    started = time.perf_counter()
    responses = [scorer.serve(_request(server, i)) for i in range(1, 4)]
    served_in = time.perf_counter() - started
    # three requests were answered before even one shadow score could have finished
    assert served_in < 0.2 and all(r.latency_ms["total"] < 100 for r in responses)
    records = worker.close(timeout=10)
    assert [r.request_id for r in records] == [1, 2, 3]
    assert all(r.latency_ms >= 200 and r.error is None for r in records)
    for response, record in zip(responses, records):
        assert set(response.item_ids.tolist()) <= set(record.item_ids.tolist())


def test_stored_challenger_scores_every_candidate(server, store):
    worker = ShadowWorker(StoredRanker.load(store, "xgboost"), server.scorer.snapshot)
    scorer = _scorer(server, store=store, shadow=worker)
    for i in range(1, 3):
        scorer.serve(_request(server, i))
    records = worker.close(timeout=30)
    assert len(records) == 2 and all(r.error is None and np.isfinite(r.scores).all() for r in records)


def test_serve_bench_writes_the_landing_zone_contract(tiny_warehouse, store, tmp_path, capsys):
    out = tmp_path / "bench"
    assert main(["serve-bench", "--store", str(store), "--marts", str(tiny_warehouse.marts_path),
                 "--n-requests", "12", "--shadow", "xgboost", "--budget-ms", "10000", "--out", str(out)]) == 0
    tables = {}
    for entity in ("requests", "impressions", "served_features", "shadow_scores"):
        files = sorted((out / "raw" / entity).glob("date=*/hour=*/*.parquet"))
        assert files, entity
        for path in files:
            assert pq.read_schema(path).remove_metadata() == ENTITY_SCHEMAS[entity], path
        tables[entity] = pa.concat_tables(pq.read_table(p, partitioning=None) for p in files)
    requests = tables["requests"]
    assert requests.num_rows == 12 and set(requests["status"].to_pylist()) == {"ok"}
    # 19 dense + 16 content columns per served item; a missing value is not logged
    served = tables["served_features"]
    assert 12 * 50 * 16 < served.num_rows <= 12 * 50 * 35 and served["feature_value"].null_count == 0
    assert tables["impressions"].num_rows == 12 * 50
    assert set(tables["impressions"]["propensity"].to_pylist()) == {1.0}
    assert set(tables["shadow_scores"]["request_id"].to_pylist()) == set(requests["request_id"].to_pylist())
    assert (out / "latency_report.json").exists() and '"recall_at_1000_vs_exact"' in capsys.readouterr().out
    for entity in ENTITY_SCHEMAS:  # every entity of the contract, empty where nothing happened
        assert list((out / "raw" / entity).glob("date=*/hour=*/*.parquet")), entity

    # The warehouse ingests its own serving run: every served row is kept, none rejected,
    # the reconciliation gate holds, and the shadow scores pair with the served lists.
    run = Warehouse(tmp_path / "warehouse", out / "raw", TINY_VARS)
    run.dbt("build", "--select", "+stg_landing__row_counts", "+fct_impression_labels",
            "+stg_landing__shadow_scores", "--indirect-selection", "cautious")
    counts = run.query("select entity, sum(raw_rows) as raw, sum(kept_rows) as kept, sum(rejected_rows) as rejected "
                       "from stg_landing__row_counts group by entity").set_index("entity")
    assert counts.loc["requests", "kept"] == 12 and counts.loc["impressions", "kept"] == 12 * 50
    assert counts.loc["shadow_scores", "kept"] == tables["shadow_scores"].num_rows
    assert counts["rejected"].sum() == 0
    labels = run.query("select count(*) as n, sum(is_clicked::int) as clicks from fct_impression_labels")
    assert labels.n[0] == 12 * 50 and labels.clicks[0] == 0  # served, no feedback yet
