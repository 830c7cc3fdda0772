"""Properties of a simulated tiny world: determinism, contract, policy, faults, duplicates."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from conftest import SEED, read_raw
from receval.contract import CLOCK_SKEW_TOLERANCE_MINUTES, ENTITY_SCHEMAS, KEY_COLUMNS, REJECT_REASONS
from receval.simulate import simulate
from receval.simulate.faults import FACT_ENTITIES


def world_json(out: Path) -> dict:
    return json.loads((out / "truth" / "world.json").read_text())


def all_files(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def hour_end(files: pd.Series) -> pd.Series:
    """End of the arrival hour encoded in a partition path."""
    parts = files.str.extract(r"date=(\d{4}-\d{2}-\d{2})/hour=(\d{2})")
    return pd.to_datetime(parts[0]) + pd.to_timedelta(parts[1].astype(int) + 1, unit="h")


def first_reason(entity: str, df: pd.DataFrame, users: np.ndarray, items: np.ndarray) -> pd.Series:
    """An independent implementation of the reject checks, in REJECT_REASONS order."""
    skew = pd.Timedelta(minutes=CLOCK_SKEW_TOLERANCE_MINUTES)
    checks = {
        "null_key": df[list(KEY_COLUMNS[entity])].isna().any(axis=1),
        "future_timestamp": df["ts"] > hour_end(df["file"]) + skew,
        "non_finite_number": ~np.isfinite(df.select_dtypes("float").fillna(0.0)).all(axis=1),
        "invalid_propensity": (df["propensity"].notna() & ((df["propensity"] <= 0) | (df["propensity"] > 1)))
        if entity == "impressions" else False,
        "invalid_position": df["position"] < 1 if entity == "impressions" else False,
        "negative_revenue": df["revenue"] < 0 if entity == "conversions" else False,
        "unknown_user": df["user_id"].notna() & ~df["user_id"].isin(users) if "user_id" in df else False,
        "unknown_item": df["item_id"].notna() & ~df["item_id"].isin(items) if "item_id" in df else False,
    }
    reason = pd.Series(None, index=df.index, dtype=object)
    for name in reversed(REJECT_REASONS[1:]):        # earliest reason wins
        reason = reason.mask(pd.Series(checks[name], index=df.index).fillna(False).astype(bool), name)
    return reason


@pytest.fixture(scope="module")
def faults(tiny_world) -> pd.DataFrame:
    return pd.read_parquet(tiny_world / "truth" / "faults.parquet")


@pytest.fixture(scope="module")
def broken_file(tiny_world) -> str:
    return world_json(tiny_world)["broken_partition"]


def test_same_seed_gives_identical_bytes_and_other_seed_differs(tiny_world, tiny_cfg, tmp_path):
    simulate(tiny_cfg, SEED, tmp_path / "again")
    assert all_files(tmp_path / "again") == all_files(tiny_world)
    simulate(tiny_cfg, SEED + 1, tmp_path / "other")
    a = pd.read_parquet(tiny_world / "truth" / "impressions.parquet")
    b = pd.read_parquet(tmp_path / "other" / "truth" / "impressions.parquet")
    assert len(a) != len(b) or not a.equals(b)


def test_until_lands_a_prefix_of_the_same_world(tiny_world, tiny_cfg, tmp_path):
    """--until keeps exactly the partitions that arrived by that day, byte for byte those of
    the whole world: a later --until lands the next day of the same world."""
    until = "2026-09-06"
    landed = simulate(tiny_cfg, SEED, tmp_path / "earlier", until=until)
    whole = {path: digest for path, digest in all_files(tiny_world).items() if path.startswith("raw/")}
    kept = {path: digest for path, digest in whole.items() if _partition_date(path) <= until}
    raw = {path: digest for path, digest in all_files(tmp_path / "earlier").items() if path.startswith("raw/")}
    assert raw == kept and 0 < len(kept) < len(whole)
    assert landed["landed_until"] == until
    assert landed["rows"]["raw_landed"]["impressions"] == sum(
        pq.ParquetFile(tmp_path / "earlier" / path).metadata.num_rows for path in raw if "/impressions/" in path)
    with pytest.raises(ValueError, match="outside the world's days"):
        simulate(tiny_cfg, SEED, tmp_path / "late", until="2027-01-01")


def _partition_date(path: str) -> str:
    return next(part.removeprefix("date=") for part in path.split("/") if part.startswith("date="))


def test_every_file_matches_the_contract_except_the_broken_one(tiny_world, broken_file):
    mismatched = []
    for entity, schema in ENTITY_SCHEMAS.items():
        files = sorted((tiny_world / "raw" / entity).glob("date=*/hour=*/part-00000.parquet"))
        assert files, entity
        mismatched += [f.relative_to(tiny_world / "raw").as_posix() for f in files
                       if not pq.read_schema(f).equals(schema)]
    assert mismatched == [broken_file]
    broken = pq.read_schema(tiny_world / "raw" / broken_file)
    assert "propensity" not in broken.names and str(broken.field("position").type) == "string"


def test_partitions_follow_arrival(tiny_world, faults, broken_file):
    """Clean rows were stamped before their file's hour ended; most arrive within the hour."""
    for entity in ENTITY_SCHEMAS:
        df = read_raw(tiny_world, entity, skip={broken_file})
        df = df[~df["event_id"].isin(faults["event_id"])]
        end = hour_end(df["file"])
        assert (df["ts"] < end).all(), entity
        assert ((end - df["ts"]) <= pd.Timedelta(hours=2)).mean() > 0.9 or entity in ("users", "items")


def test_broken_file_rows_are_all_schema_mismatch_faults(tiny_world, faults, broken_file):
    rows = pq.read_table(tiny_world / "raw" / broken_file).column("event_id").to_pylist()
    listed = faults[faults["reason"] == "schema_mismatch"]
    assert sorted(rows) == sorted(listed["event_id"]) and (listed["file"] == broken_file).all()
    truth = pd.read_parquet(tiny_world / "truth" / "impressions.parquet", columns=["event_id"])
    assert not truth["event_id"].isin(rows).any()


def test_every_raw_row_violates_exactly_its_recorded_reason(tiny_world, faults, broken_file):
    users = read_raw(tiny_world, "users")["user_id"].to_numpy()
    items = read_raw(tiny_world, "items")["item_id"].to_numpy()
    expected_by_id = faults.set_index(["entity", "event_id"])["reason"]
    for entity in FACT_ENTITIES:
        df = read_raw(tiny_world, entity, skip={broken_file})
        got = first_reason(entity, df, users, items)
        key = pd.MultiIndex.from_arrays([np.full(len(df), entity), df["event_id"].fillna(-1)])
        expected = expected_by_id.reindex(key).to_numpy()
        assert (got.fillna("ok").to_numpy() == pd.Series(expected).fillna("ok").to_numpy()).all(), entity


def test_fault_rates_and_kinds(tiny_world, tiny_cfg, faults):
    clean = world_json(tiny_world)["rows"]["clean"]
    injected = faults[faults["reason"] != "schema_mismatch"]
    for entity in FACT_ENTITIES:
        n, p = clean[entity], tiny_cfg.bad_rate
        # bad rows ~ Binomial(clean rows, bad_rate): allow 4 binomial standard deviations.
        assert abs((injected["entity"] == entity).sum() - n * p) <= 4 * np.sqrt(n * p * (1 - p)) + 1, entity
    # every reason but non_finite_number, which the simulator leaves to test_dbt_landing_formats
    assert set(faults["reason"]) == set(REJECT_REASONS) - {"non_finite_number"}
    assert faults["event_id"].is_unique


def test_duplicates_match_raw_and_include_conflicting_copies(tiny_world, broken_file):
    dups = pd.read_parquet(tiny_world / "truth" / "duplicates.parquet")
    assert dups["conflicting"].any() and (~dups["conflicting"]).any()
    for entity in ("impressions", "requests", "clicks"):
        df = read_raw(tiny_world, entity, skip={broken_file})
        counts = df.groupby("event_id").size()
        extra = (counts[counts > 1] - 1).sort_index()
        truth = dups[dups["entity"] == entity].set_index("event_id")["extra_copies"].sort_index()
        assert extra.to_dict() == truth.to_dict(), entity
        repeated = df[df["event_id"].isin(extra.index)]
        n_files = repeated.groupby("event_id")["file"].nunique()
        assert (n_files >= 2).all()                      # the copy arrives in a later partition
        payload = repeated.drop(columns="file").drop_duplicates().groupby("event_id").size() > 1
        conflicting = dups[(dups["entity"] == entity)].set_index("event_id")["conflicting"]
        assert payload.reindex(conflicting.index).to_dict() == conflicting.to_dict(), entity


def test_logged_propensities_match_the_policy(tiny_world, tiny_cfg, faults, broken_file):
    eps, c = tiny_cfg.epsilon, tiny_cfg.n_candidates
    imps = read_raw(tiny_world, "impressions", skip={broken_file})
    imps = imps[~imps["event_id"].isin(faults["event_id"])].drop_duplicates("event_id")
    cands = pd.read_parquet(tiny_world / "truth" / "candidates.parquet")
    cands = cands.sort_values(["request_id", "prod_score", "item_id"], ascending=[True, False, True])
    cands["greedy_rank"] = cands.groupby("request_id").cumcount()
    assert (cands.groupby("request_id").size() == c).all()

    prod = imps[imps["model_id"] == "prod_v1"].merge(cands, on=["request_id", "item_id"], validate="1:1")
    expected = (1 - eps) * (prod["greedy_rank"] == prod["position"] - 1) + eps / c
    np.testing.assert_allclose(prod["propensity"], expected)
    np.testing.assert_allclose(prod["score"], prod["prod_score"])
    # Marginals over the K positions of one item can never exceed 1.
    assert (1 - eps) + tiny_cfg.k * eps / c <= 1
    # Empirically, the greedy top item sits at position 1 with probability (1-eps) + eps/C.
    top = prod[prod["position"] == 1]
    p = (1 - eps) + eps / c
    assert abs((top["greedy_rank"] == 0).mean() - p) <= 4 * np.sqrt(p * (1 - p) / len(top))

    uniform = imps[imps["model_id"] == "uniform_random"]
    assert len(uniform) and np.allclose(uniform["propensity"], 1 / c)
    inter = imps[imps["model_id"] == "interleaved"]
    assert len(inter) and inter["propensity"].isna().all() and set(inter["team"]) == {"A", "B"}
    assert imps.loc[imps["model_id"] != "interleaved", "team"].isna().all()


def test_truth_labels_and_experiments_are_consistent(tiny_world):
    truth = pd.read_parquet(tiny_world / "truth" / "impressions.parquet")
    assert truth["event_id"].is_unique
    assert (truth["converted"] <= truth["clicked"]).all() and (truth.loc[~truth["converted"], "revenue"] == 0).all()
    assert abs(truth["clicked"].mean() - truth["p_click"].mean() * world_json(tiny_world)["q_click_window"]) < 0.01
    exp = pd.read_parquet(tiny_world / "truth" / "experiments.parquet")
    aa = exp[exp["experiment_id"] == "exp_aa"]
    assert np.allclose(aa["true_effect_abs"], 0)
    treat = exp[(exp["experiment_id"] == "exp_ranker") & (exp["variant"] == "treatment")].set_index("metric")
    assert (treat["true_effect_abs"] > 0).all()


def test_logged_candidate_sets_are_the_retrieved_ones(tiny_world, tiny_cfg, faults):
    raw = read_raw(tiny_world, "candidates")
    logged = raw[~raw["event_id"].isin(faults["event_id"])].drop_duplicates("event_id")
    truth = pd.read_parquet(tiny_world / "truth" / "candidates.parquet", columns=["request_id", "item_id"])
    # every served request's candidate set (share 1.0 in tiny), but the late rows that
    # arrive after the log's end (a set of 30 rows is incomplete more often than one row)
    both = logged.merge(truth, on=["request_id", "item_id"], how="outer", indicator=True)
    assert (both["_merge"] != "left_only").all()
    assert (both["_merge"] == "both").mean() > 0.99
    complete = logged.groupby("request_id").filter(lambda g: len(g) == tiny_cfg.n_candidates)
    assert complete.request_id.nunique() / truth.request_id.nunique() > 0.98
    ranked = complete.sort_values(["request_id", "retrieval_rank"])
    assert (ranked.groupby("request_id").retrieval_rank.agg(list)
            .map(lambda r: r == list(range(1, tiny_cfg.n_candidates + 1)))).all()
    assert (ranked.groupby("request_id").retrieval_score.is_monotonic_decreasing).all()


def test_candidate_logging_share_leaves_the_rest_of_the_world_unchanged(tiny_world, tiny_cfg, tmp_path):
    """The candidate log has its own random stream: logging half of the sets changes nothing else."""
    half = replace(tiny_cfg, candidate_log_share=0.5)
    simulate(half, SEED, tmp_path)
    for name in ("impressions", "faults", "duplicates", "policy_values"):
        a = pd.read_parquet(tiny_world / "truth" / f"{name}.parquet")
        b = pd.read_parquet(tmp_path / "truth" / f"{name}.parquet")
        if "entity" in a:
            a, b = (x[x["entity"] != "candidates"].reset_index(drop=True) for x in (a, b))
        pd.testing.assert_frame_equal(a, b)
    served = pd.read_parquet(tiny_world / "truth" / "candidates.parquet").request_id.nunique()
    logged = read_raw(tmp_path, "candidates").drop_duplicates("request_id").request_id.nunique()
    assert abs(logged / served - 0.5) <= 4 * np.sqrt(0.25 / served)


def test_a_world_without_delayed_feedback_has_every_purchase_a_second_after_its_click(tiny_cfg, tmp_path):
    """delayed_feedback=False: every clean purchase is stamped one second after a click of the
    same user on the same item, and every click within a minute of its impression."""
    out = tmp_path / "no_delay"
    simulate(replace(tiny_cfg, delayed_feedback=False), SEED, out)
    faults = pd.read_parquet(out / "truth" / "faults.parquet")
    bad = set(faults.loc[faults.entity == "conversions", "event_id"])
    conversions = read_raw(out, "conversions")
    conversions = conversions[~conversions.event_id.isin(bad)].drop_duplicates("event_id")
    clicks = read_raw(out, "clicks")[["user_id", "item_id", "ts"]]
    wanted = conversions.assign(ts=conversions.ts - pd.Timedelta(seconds=1))[["user_id", "item_id", "ts"]]
    matched = wanted.merge(clicks.drop_duplicates(), on=["user_id", "item_id", "ts"], how="left", indicator=True)
    assert len(conversions) > 100 and (matched["_merge"] == "both").all()
    bad = set(faults.loc[faults.entity.isin(["clicks", "impressions"]), "event_id"])
    clicks = read_raw(out, "clicks").drop_duplicates("event_id")
    shown = read_raw(out, "impressions").drop_duplicates("event_id")
    pairs = clicks[~clicks.event_id.isin(bad)].merge(
        shown[~shown.event_id.isin(bad)], on=["request_id", "item_id"], suffixes=("", "_shown"))
    lag = (pairs.ts - pairs.ts_shown).dt.total_seconds()
    assert pairs.event_id.nunique() > 1000 and lag.between(0, 60).all()


def test_drift_and_skew_switch_off(tiny_world, tmp_path):
    """`receval simulate --no-drift --no-skew`: the same world without the injected drift and
    skew. Served prices equal the catalog's on every device; the drift category's click
    probabilities equal the drifted world's before the drift starts and stay lower after
    it; world.json says there is nothing to detect."""
    from receval.cli import main

    assert main(["simulate", "--preset", "tiny", "--seed", str(SEED), "--out", str(tmp_path),
                 "--no-drift", "--no-skew"]) == 0
    assert world_json(tmp_path)["drift"] is None and world_json(tmp_path)["skew"] is None
    drift = world_json(tiny_world)["drift"]

    catalog = pd.read_parquet(tmp_path / "truth" / "items.parquet")
    bad = set(pd.read_parquet(tmp_path / "truth" / "faults.parquet").event_id)
    served = read_raw(tmp_path, "served_features").drop_duplicates("event_id", keep=False)  # no conflicting copies
    prices = served[(served.feature_name == "item_price") & ~served.event_id.isin(bad)].merge(catalog, on="item_id")
    assert len(prices) > 1000
    np.testing.assert_allclose(prices.feature_value, prices.price, rtol=1e-12)

    def drift_category_rows(out):
        truth = pd.read_parquet(out / "truth" / "impressions.parquet").merge(catalog[["item_id", "category"]])
        truth = truth[truth.category == drift["category"]]
        return truth[truth.ts < pd.Timestamp(drift["start"])], truth[truth.ts >= pd.Timestamp(drift["start"])]
    (before_on, after_on), (before_off, after_off) = drift_category_rows(tiny_world), drift_category_rows(tmp_path)
    pd.testing.assert_frame_equal(before_on.reset_index(drop=True), before_off.reset_index(drop=True))
    assert after_on.p_click.mean() > 1.2 * after_off.p_click.mean()
