"""receval.ope.marts: the delay-corrected rewards purchase_corrected and revenue_corrected
(a purchase seen on an immature slot weighted by 1 / its arrival probability)."""
import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from receval.metrics.uncertainty import skew_corrected_interval
from receval.ope.marts import OUTPUT_SCHEMA, estimate_policy_values
from receval.ope.slots import PolicySlots, RewardCells, SlotCodes, _to_frame, corrected_rewards
from receval.warehouse import ColumnReader

DAY = datetime.date(2026, 9, 7)


def _slots(p_log, p_target, click, purchase, revenue, mature, arrival, day=None) -> pa.Table:
    """One-slot requests of int_cf__policy_slots for policy 'p' (surface home, device ios)."""
    n = len(p_log)
    return pa.table({
        "policy_id": ["p"] * n, "event_id": np.arange(n), "request_id": np.arange(n), "item_id": np.arange(n),
        "position": np.ones(n, np.int32), "impression_date": day if day is not None else [DAY] * n,
        "model_id": ["prod"] * n, "surface": ["home"] * n, "device": ["ios"] * n,
        "p_log": np.asarray(p_log, float), "propensity_source": ["logged"] * n,
        "p_target": np.asarray(p_target, float), "has_support": [True] * n, "is_exploration": [False] * n,
        "p_log_examined": np.asarray(p_log, float), "p_target_examined": np.asarray(p_target, float),
        "click": np.asarray(click, float), "purchase": np.asarray(purchase, float),
        "revenue": np.asarray(revenue, float), "is_click_label_mature": [True] * n,
        "is_label_mature": list(mature), "arrival_probability": pa.array(arrival, pa.float64()),
    })


def _rows(out: pa.Table, reward: str, day: str = "all") -> pd.DataFrame:
    frame = out.to_pandas()
    return frame[(frame.reward == reward) & (frame.day == day) & (frame.segment == "all")].set_index("estimator")


def test_ips_and_snips_of_the_corrected_purchase_by_hand():
    p_log = [0.5, 0.5, 0.25, 0.5, 0.5]
    p_target = [1.0, 0.25, 0.5, 0.5, 0.5]
    click = [1, 1, 0, 1, 1]
    purchase = [1, 0, 0, 1, 1]
    revenue = [10.0, 0, 0, 4.0, 6.0]
    mature = [False, False, False, False, True]
    # slot 4 is mature: its label is final, weight 1 whatever its arrival probability
    arrival = [0.5, 0.8, None, 0.25, 0.9]
    out = estimate_policy_values(_slots(p_log, p_target, click, purchase, revenue, mature, arrival),
                                 n_bootstrap=0, min_requests=1)
    assert out.schema == OUTPUT_SCHEMA
    w = np.array([2.0, 0.5, 2.0, 1.0, 1.0])
    y = np.array([1 / 0.5, 0, 0, 1 / 0.25, 1])               # 2, 0, 0, 4, 1
    r = np.array([10 / 0.5, 0, 0, 4 / 0.25, 6])              # 20, 0, 0, 16, 6
    rows = _rows(out, "purchase_corrected")
    assert rows.loc["ips", "estimate"] == pytest.approx((2 * 2 + 1 * 4 + 1 * 1) / 5)   # 9 / 5
    assert rows.loc["ips", "estimate"] == pytest.approx(np.mean(w * y))
    assert rows.loc["snips", "estimate"] == pytest.approx(9 / w.sum())                # 9 / 6.5
    assert _rows(out, "revenue_corrected").loc["ips", "estimate"] == pytest.approx(np.mean(w * r))
    assert (rows.label_maturity == "partial").all() and rows.n_slots.eq(5).all()
    # share to come over the supported slots: 1 - seen / weighted = 1 - 3 / 7 (purchases), 1 - 20 / 42
    assert rows.loc["ips", "expected_share_to_come"] == pytest.approx(1 - 3 / 7)
    assert _rows(out, "revenue_corrected").loc["ips", "expected_share_to_come"] == pytest.approx(1 - 20 / 42)
    # the plain purchase row reads the one mature slot only
    plain = _rows(out, "purchase")
    assert plain.loc["ips", "estimate"] == pytest.approx(1.0) and plain.loc["ips", "n_slots"] == 1
    assert (plain.label_maturity == "mature").all() and plain.expected_share_to_come.isna().all()
    assert (_rows(out, "click").label_maturity == "mature").all()


def test_the_corrected_ips_is_unbiased_for_the_eventual_value_where_the_naive_is_low():
    rng = np.random.default_rng(3)
    n, reps = 2000, 150
    p_log = rng.uniform(0.2, 0.9, n)
    p_target = rng.uniform(0.0, 1.0, n)
    pi = 0.05 + 0.25 * p_target                # eventual purchase probability, higher where the target goes
    arrival = rng.uniform(0.15, 1.0, n)        # F(e_i): the purchase has arrived with this probability
    truth = np.mean(p_target / p_log * pi)     # the policy's eventual value on these slots
    naive, corrected = [], []
    for _ in range(reps):
        eventual = (rng.random(n) < pi).astype(float)
        seen = eventual * (rng.random(n) < arrival)
        # every slot is clicked (arrival known), none mature
        out = estimate_policy_values(
            _slots(p_log, p_target, np.ones(n), seen, 3.0 * seen, [False] * n, arrival),
            n_bootstrap=0, min_requests=10 ** 9)
        corrected.append(_rows(out, "purchase_corrected").loc["ips", "estimate"])
        naive.append(np.mean(p_target / p_log * seen))
        assert "purchase" not in set(out["reward"].to_pylist())   # no mature label: no plain row
    corrected, naive = np.array(corrected), np.array(naive)
    se = corrected.std(ddof=1) / np.sqrt(reps)
    assert abs(corrected.mean() - truth) < 3 * se, (corrected.mean(), truth, se)
    assert naive.mean() < truth - 20 * se, (naive.mean(), truth, se)   # the naive one is low


def _mixed() -> pa.Table:
    """Two policies over 3 days, 2 surfaces, unsupported and exploration slots; the newest
    day immature, clicked slots with arrival probabilities."""
    rng = np.random.default_rng(1)
    n_requests, k = 300, 3
    n = n_requests * k
    day = np.repeat(rng.integers(0, 3, n_requests), k)
    click = (rng.random(n) < 0.3).astype(float)
    purchase = click * (rng.random(n) < 0.3)
    explore = np.repeat(rng.random(n_requests) < 0.3, k)
    base = {
        "event_id": np.arange(n), "request_id": np.repeat(rng.permutation(n_requests), k),
        "item_id": rng.integers(0, 50, n), "position": np.tile(np.arange(1, k + 1, dtype=np.int32), n_requests),
        "impression_date": [datetime.date(2026, 9, 1) + datetime.timedelta(days=int(d)) for d in day],
        "model_id": ["prod"] * n, "surface": rng.choice(["home", "search"], n),
        "device": rng.choice(["ios", "web"], n),
        "p_log": np.where(explore, 1.0 / k, rng.uniform(0.2, 0.9, n)),
        "propensity_source": rng.choice(["logged", "estimated"], n), "has_support": rng.random(n) < 0.9,
        "is_exploration": explore, "p_log_examined": np.full(n, 0.5),
        "click": click, "purchase": purchase, "revenue": purchase * rng.uniform(1, 9, n),
        "is_click_label_mature": [True] * n, "is_label_mature": day < 2,
        "arrival_probability": pa.array(np.where(day < 2, 1.0, rng.uniform(0.3, 0.9, n)), mask=click == 0),
        "arrival_probability_std_error": pa.array(np.where(day < 2, 0.0, 0.05), mask=click == 0),
    }
    tables = []
    for policy, p_target in (("a", rng.uniform(0, 1, n)), ("b", rng.integers(0, 2, n).astype(float))):
        tables.append(pa.table({"policy_id": [policy] * n, **base, "p_target": p_target,
                                "p_target_examined": p_target * 0.5}))
    return pa.concat_tables(tables)


PLAIN = pa.array(["click", "purchase", "revenue"])


def test_the_arrival_column_leaves_the_plain_rows_as_they_were():
    slots = _mixed()
    with_arrival = estimate_policy_values(slots, n_bootstrap=30, min_requests=5)
    without = estimate_policy_values(slots.drop_columns(["arrival_probability", "arrival_probability_std_error"]),
                                     n_bootstrap=30, min_requests=5)
    assert set(without["reward"].to_pylist()) == {"click", "purchase", "revenue"}   # no column, no correction
    assert with_arrival.filter(pc.is_in(with_arrival["reward"], PLAIN)).equals(without)
    corrected = with_arrival.filter(pc.invert(pc.is_in(with_arrival["reward"], PLAIN))).to_pandas()
    # the newest day is immature and the overall cells partial; the two mature days have no corrected rows
    assert set(corrected.day) == {"all", "2026-09-03"}
    assert set(corrected.label_maturity) == {"partial", "immature"}
    assert (corrected.label_maturity[corrected.day == "2026-09-03"] == "immature").all()
    assert corrected.estimate.notna().all() and (corrected.expected_share_to_come > 0).all()
    # the analytic interval only: no bootstrap, even on the overall cell
    assert (corrected.n_bootstrap == 0).all() and corrected.bootstrap_ci_low.isna().all()


def test_the_curves_error_bound_is_added_to_the_corrected_standard_errors():
    """Var = Var(rows) + (estimate * rho)^2, rho = sum w y~ s/F / sum w y~ over the cell's
    supported slots, computed here by hand for the newest (immature) day of policy a."""
    slots = _mixed()
    with_curve = estimate_policy_values(slots, n_bootstrap=0, min_requests=5).to_pandas()
    no_curve = slots.set_column(slots.column_names.index("arrival_probability_std_error"),
                                "arrival_probability_std_error", pa.array(np.zeros(slots.num_rows)))
    without = estimate_policy_values(no_curve, n_bootstrap=0, min_requests=5).to_pandas()
    frame = slots.to_pandas()
    cell = frame[(frame.policy_id == "a") & (frame.impression_date == datetime.date(2026, 9, 3)) & frame.has_support]
    arrival = cell.arrival_probability.fillna(1.0).to_numpy()
    y = np.where(cell.purchase > 0, cell.purchase / arrival, 0.0)
    w = cell.p_target / cell.p_log
    s = np.where(cell.purchase > 0, 0.05 / arrival, 0.0)
    rho = (w * y * s).sum() / (w * y).sum()
    key = ["policy_id", "estimator", "reward", "day", "segment"]
    both = with_curve.merge(without, on=key, suffixes=("", "_without"))
    rows = both[(both.policy_id == "a") & (both.reward == "purchase_corrected") & (both.day == "2026-09-03")
                & (both.segment == "all")].set_index("estimator")
    assert set(rows.index) >= {"ips", "snips", "dr"}
    for name, row in rows.iterrows():
        assert row.estimate == row.estimate_without, name   # the estimate does not move
        assert abs(row.skewness_without) > 0.02, name       # so the interval is not Wald's
        assert row.std_error ** 2 == pytest.approx(row.std_error_without ** 2 + (row.estimate * rho) ** 2, rel=1e-12)
        # the bound adds no third moment: skewness scales by (se without / se with)^3
        assert row.skewness == pytest.approx(row.skewness_without * (row.std_error_without / row.std_error) ** 3,
                                             rel=1e-12)
        assert (row.ci_low, row.ci_high) == pytest.approx(
            skew_corrected_interval(row.estimate, row.std_error, row.skewness), rel=1e-12)
    # rows of other rewards, and mature slots (s = 0), are untouched
    plain = both[~both.reward.str.endswith("_corrected")]
    assert (plain.std_error.fillna(-1) == plain.std_error_without.fillna(-1)).all()


def test_all_mature_labels_give_no_corrected_rows_and_the_same_table():
    slots = _mixed()
    mature = slots.set_column(slots.column_names.index("is_label_mature"), "is_label_mature",
                              pa.array([True] * slots.num_rows))
    out = estimate_policy_values(mature, n_bootstrap=30, min_requests=5)
    assert set(out["reward"].to_pylist()) == {"click", "purchase", "revenue"}
    assert out.equals(estimate_policy_values(mature.drop_columns(["arrival_probability",
                                                                  "arrival_probability_std_error"]),
                                             n_bootstrap=30, min_requests=5))
    assert set(out["label_maturity"].to_pylist()) == {"mature"}
    assert out["expected_share_to_come"].null_count == out.num_rows


def test_an_unknown_arrival_probability_gives_null_rows_for_its_cells_only():
    # day 1 immature with a clicked slot whose arrival probability is unknown (the curve is
    # not identified); day 2 immature with known probabilities
    n = 40
    day = [DAY] * 20 + [DAY + datetime.timedelta(days=1)] * 20
    click = np.tile([1.0, 0.0], 20)
    purchase = np.tile([1.0, 0.0, 0.0, 0.0], 10)
    arrival = [0.5 if c else None for c in click]
    arrival[2] = None                                   # a clicked immature slot of day 1
    out = estimate_policy_values(_slots(np.full(n, 0.5), np.full(n, 0.5), click, purchase, 2 * purchase,
                                        [False] * n, arrival, day=day), n_bootstrap=0, min_requests=1)
    for reward in ("purchase_corrected", "revenue_corrected"):
        for cell in ("all", str(DAY)):                 # every cell holding the slot: nulls, n_slots 0
            rows = _rows(out, reward, cell)
            assert set(rows.index) == {"ips", "clipped_ips", "snips", "dm", "dr", "sndr"}
            assert rows.estimate.isna().all() and rows.std_error.isna().all() and (rows.n_slots == 0).all()
            assert (rows.label_maturity == "immature").all() and rows.expected_share_to_come.isna().all()
        later = _rows(out, reward, str(DAY + datetime.timedelta(days=1)))
        assert later.loc["ips", "estimate"] == pytest.approx(np.mean(purchase[20:] / 0.5) * (1 if reward[0] == "p" else 2))
    # a purchase whose arrival probability is 0 is unknown too; an unclicked one needs none
    frame = corrected_rewards(_to_frame(_slots([0.5] * 3, [0.5] * 3, [1, 1, 0], [1, 0, 0], [5, 0, 0],
                                               [False] * 3, [0.0, None, None])))
    assert frame.corrected_unknown.tolist() == [True, True, False]
    assert np.isnan(frame.purchase_corrected[:2]).all() and frame.purchase_corrected[2] == 0


def test_the_reward_model_of_a_corrected_reward_reads_every_slot_where_it_is_defined():
    reader = ColumnReader(_mixed())
    codes = SlotCodes.read(reader, 5, 0)
    slots = PolicySlots.read(reader, "a", codes, RewardCells.fit(reader, codes, 5, None), None)
    immature = np.flatnonzero(slots.flags["has_support"] & ~slots.flags["is_label_mature"])
    assert np.isnan(slots.q("purchase", immature)).all()
    assert np.isfinite(slots.q("purchase_corrected", immature)).all()
    supported = np.flatnonzero(slots.flags["has_support"])
    assert np.isfinite(slots.q("revenue_corrected", supported)).all()