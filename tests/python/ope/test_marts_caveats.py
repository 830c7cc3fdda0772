"""receval.ope.marts: the interval caveats, and why rare rewards at rare large weights get one
and a floor under their standard error."""
import datetime

import numpy as np
import pyarrow as pa
import pytest

from receval.ope import IPS
from receval.ope.marts import MIN_EXPECTED_REWARDED_SLOTS, estimate_policy_values


def _one_slot_requests(seed: int, n: int = 4000, n_items: int = 20, eps: float = 0.1, click_rate: float = 0.1,
                       exploration_slice: bool = False, target_click_rate: float | None = None) -> pa.Table:
    """One-slot requests of an epsilon-greedy logger (item 0 greedy) and a target that always
    shows item 1, which the logger shows only when it explores: about n eps / n_items slots
    of weight n_items / eps. Every item is clicked at ``click_rate`` (item 1 at
    ``target_click_rate`` if given: the target's value).
    ``exploration_slice``: the exploring requests are the uniform-random slice instead
    (p_log 1 / n_items, ``is_exploration``), and the rest always show item 0."""
    rng = np.random.default_rng(seed)
    explore = rng.random(n) < eps
    item = np.where(explore, rng.integers(0, n_items, n), 0)
    if exploration_slice:
        p_log = np.where(explore, 1.0 / n_items, 1.0)
    else:
        p_log = np.where(item == 0, 1 - eps + eps / n_items, eps / n_items)
        explore = np.zeros(n, bool)
    rate = np.where(item == 1, click_rate if target_click_rate is None else target_click_rate, click_rate)
    click = (rng.random(n) < rate).astype(float)
    return pa.table({
        "policy_id": ["always_item_1"] * n, "event_id": np.arange(n), "request_id": np.arange(n),
        "position": np.ones(n, np.int32), "impression_date": [datetime.date(2026, 9, 1)] * n,
        "surface": ["home"] * n, "device": ["web"] * n, "p_log": p_log, "propensity_source": ["logged"] * n,
        "p_target": (item == 1).astype(float), "has_support": np.ones(n, bool), "is_exploration": explore,
        "p_log_examined": pa.array(p_log, mask=~explore), "p_target_examined": (item == 1).astype(float),
        "click": click, "purchase": click, "revenue": click, "is_click_label_mature": np.ones(n, bool),
        "is_label_mature": np.ones(n, bool)})


def _overall(table: pa.Table, estimator: str) -> dict:
    rows = estimate_policy_values(table, n_bootstrap=0, min_requests=5).to_pylist()
    row, = [r for r in rows if (r["estimator"], r["reward"], r["day"], r["segment"]) == (estimator, "click", "all", "all")]
    return row


def test_expected_rewarded_slots_is_the_rewarded_share_times_the_weights_effective_sample():
    table = _one_slot_requests(3, click_rate=0.3, exploration_slice=True)
    frame = table.to_pandas()
    w = (frame.p_target / frame.p_log).to_numpy()
    share = (frame.click > 0).mean()
    for estimator, weights in (("ips", w), ("snips", w), ("dr", w), ("clipped_ips", np.minimum(w, 20.0))):
        row = _overall(table, estimator)
        assert row["expected_rewarded_slots"] == pytest.approx(share * weights.sum() ** 2 / (weights ** 2).sum(),
                                                                rel=1e-12)
    explore = frame[frame.is_exploration]
    w = (explore.p_target_examined / explore.p_log_examined).to_numpy()
    assert _overall(table, "pbm_ips")["expected_rewarded_slots"] == pytest.approx(
        (explore.click > 0).mean() * w.sum() ** 2 / (w ** 2).sum(), rel=1e-12)
    assert _overall(table, "dm")["expected_rewarded_slots"] is None


def test_caveats_name_the_known_reasons_an_interval_misses():
    common = _one_slot_requests(3)   # ~20 slots of weight 200: 2 expected clicks among them
    assert _overall(common, "dm")["interval_caveat"] == "reward_model_bias"
    assert _overall(common, "ips")["interval_caveat"] == "few_expected_rewards"
    plenty = _one_slot_requests(3, n=40_000)   # ten times the slots: 20
    assert _overall(plenty, "ips")["interval_caveat"] is None
    assert _overall(plenty, "ips")["expected_rewarded_slots"] >= MIN_EXPECTED_REWARDED_SLOTS
    # weight 200 at clip 20 is clipped IPS's bias; at clip 1e6 it is IPS
    assert _overall(plenty, "clipped_ips")["interval_caveat"] == "clipping_bias"
    unclipped = estimate_policy_values(plenty, n_bootstrap=0, min_requests=5, clip=1e6).to_pylist()
    assert [r["interval_caveat"] for r in unclipped if (r["estimator"], r["reward"], r["day"], r["segment"])
            == ("clipped_ips", "click", "all", "all")] == [None]


def test_the_floor_is_the_rewards_spread_times_the_norm_of_their_coefficients():
    table = _one_slot_requests(3, n=1000, n_items=10, eps=0.2, click_rate=0.05, exploration_slice=True)
    frame = table.to_pandas()
    w, r = (frame.p_target / frame.p_log).to_numpy(), frame.click.to_numpy()
    spread = np.std(r, ddof=1)
    for estimator, coefficient in (("ips", w / w.size), ("clipped_ips", np.minimum(w, 20.0) / w.size),
                                   ("snips", w / w.sum())):
        assert _overall(table, estimator)["std_error_floor"] == pytest.approx(
            spread * np.sqrt((coefficient ** 2).sum()), rel=1e-12)
    # replay and pbm_ips: the exploration slice's coefficients, priced at the whole cell's spread
    explore = frame[frame.is_exploration]
    matched = (explore.p_target == 1.0).to_numpy(float)   # one-slot lists: pbm_ips weighs as IPS does
    w_pbm = (explore.p_target_examined / explore.p_log_examined).to_numpy()
    assert _overall(table, "replay")["std_error_floor"] == pytest.approx(
        spread * np.sqrt(((matched / matched.sum()) ** 2).sum()), rel=1e-12)
    assert _overall(table, "pbm_ips")["std_error_floor"] == pytest.approx(
        spread * np.sqrt(((w_pbm / w_pbm.size) ** 2).sum()), rel=1e-12)
    assert _overall(table, "dm")["std_error_floor"] is None


def test_rows_with_few_expected_rewards_take_the_floor_and_cover():
    # 1 expected click among the target's ~20 slots of weight 50: a sample that sees none (a
    # third of them) has its own interval [0, 0], which misses; with the floor (about the
    # value over the square root of 1) it covers
    rare = dict(n_items=10, eps=0.2, click_rate=0.05)
    flagged = [_overall(_one_slot_requests(seed, n=1000, **rare), "ips") for seed in range(100)]
    assert all(r["interval_caveat"] == "few_expected_rewards" for r in flagged)
    own = [IPS().estimate_policy_value(**_ips_inputs(_one_slot_requests(seed, n=1000, **rare))) for seed in range(100)]
    assert np.mean([e.ci_low <= 0.05 <= e.ci_high for e in own]) < 0.75
    assert all(r["std_error"] == max(r["std_error_floor"], e.std_error) for r, e in zip(flagged, own))
    assert np.mean([r["ci_low"] <= 0.05 <= r["ci_high"] for r in flagged]) >= 0.93
    clear = [_overall(_one_slot_requests(seed, n=10_000, **{**rare, "click_rate": 0.1}), "ips") for seed in range(100)]
    assert np.mean([r["interval_caveat"] is None for r in clear]) > 0.9
    assert np.mean([r["ci_low"] <= 0.1 <= r["ci_high"] for r in clear if r["interval_caveat"] is None]) >= 0.9


def test_rows_with_enough_expected_rewards_keep_their_own_standard_error():
    # the target's item is clicked at 0.02, every other at 0.1: the pooled spread overstates
    # the target's; with ~20 expected rewarded slots the sample's own error is kept
    table = _one_slot_requests(5, n=10_000, n_items=10, eps=0.2, click_rate=0.1, target_click_rate=0.02)
    row = _overall(table, "ips")
    assert row["expected_rewarded_slots"] >= MIN_EXPECTED_REWARDED_SLOTS
    assert row["std_error_floor"] > 1.5 * row["std_error"]
    assert row["std_error"] == pytest.approx(IPS().estimate_policy_value(**_ips_inputs(table)).std_error, rel=1e-12)


def _ips_inputs(table: pa.Table) -> dict:
    frame = table.to_pandas()
    return dict(reward=frame.click.to_numpy(), p_log=frame.p_log.to_numpy(), p_target=frame.p_target.to_numpy(),
                group_ids=frame.request_id.to_numpy())
