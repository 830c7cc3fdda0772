"""receval.experiments.marts: the delay corrections of the experiment marts (purchases still
to come) - conversion_rate on the imputed eventual indicator, the bandit's allocation on the
eventual per-user figures, interleaving's inverse-arrival weighted credits."""
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from receval.experiments import ThompsonSampling
from receval.experiments.marts import bandit_allocations, experiment_results, interleaving_results

SEED_CSV = Path(__file__).parents[3] / "seeds" / "experiment_registry.csv"


def _registry(metrics=("ctr", "conversion_rate")) -> pa.Table:
    reg = pacsv.read_csv(SEED_CSV).to_pylist()
    rows = [r for r in reg if r["experiment_id"] == "exp_ranker"
            and (r["entry"] == "variant" or (r["entry"] == "metric" and r["name"] in metrics))]
    return pa.Table.from_pylist(rows)


def _users(rng, n=150, pending=True) -> pa.Table:
    """Users of exp_ranker's two arms; with ``pending``, some clicks immature and the
    eventual columns above the seen ones."""
    variant = np.repeat(["control", "treatment"], n)
    clicks = rng.poisson(3, 2 * n)
    converted = (rng.random(2 * n) < 0.3).astype(np.int32)
    revenue = converted * rng.gamma(2.0, 10.0, 2 * n)
    immature = np.minimum(clicks, rng.poisson(1, 2 * n)) if pending else np.zeros(2 * n, dtype=int)
    imputed = np.where(converted == 1, 1.0, np.where(immature > 0, rng.uniform(0, 0.3, 2 * n), 0.0))
    return pa.table({
        "experiment_id": ["exp_ranker"] * (2 * n), "variant": variant, "user_id": np.arange(2 * n),
        "first_exposure_date": pa.array(np.datetime64("2026-09-20") + rng.integers(0, 5, 2 * n)),
        "has_pre_period": rng.random(2 * n) < 0.8,
        "impressions": clicks * 10 + 5, "pre_impressions": rng.poisson(20, 2 * n),
        "clicks": clicks, "pre_clicks": rng.poisson(2, 2 * n), "clicks_immature": immature,
        "converted": converted, "pre_converted": (rng.random(2 * n) < 0.3).astype(np.int32),
        "converted_corrected": imputed if pending else converted.astype(float),
        "purchases": converted, "pre_purchases": rng.poisson(0.4, 2 * n),
        "purchases_corrected": converted * (1.3 if pending else 1.0),
        "revenue": revenue, "pre_revenue": rng.gamma(1.0, 5.0, 2 * n),
        "revenue_corrected": revenue * (1.25 if pending else 1.0),
        "sessions": rng.poisson(2, 2 * n) + 1, "pre_sessions": rng.poisson(2, 2 * n),
    })


# ---------------------------------------------------------------- fct_experiment_results
def test_conversion_rate_is_corrected_on_the_imputed_indicator():
    users = _users(np.random.default_rng(1))
    row = next(r for r in experiment_results(users, _registry()).to_pylist() if r["metric"] == "conversion_rate")
    assert row["label_maturity"] == "partial" and row["corrected_reason"] is None
    conv, imputed = users["converted"].to_numpy(), users["converted_corrected"].to_numpy()
    assert row["expected_share_to_come"] == pytest.approx(1 - conv.sum() / imputed.sum())
    # the same CUPED analysis, on converted_corrected in place of converted
    swapped = users.set_column(users.schema.get_field_index("converted"), "converted", pa.array(imputed))
    same = next(r for r in experiment_results(swapped, _registry()).to_pylist() if r["metric"] == "conversion_rate")
    for k in ("control_mean", "treatment_mean", "effect", "std_error", "ci_low", "ci_high", "p_value"):
        assert row[f"corrected_{k}"] == pytest.approx(same[f"cuped_{k}"], rel=1e-12), k


def test_mature_conversion_rate_corrected_equals_cuped():
    users = _users(np.random.default_rng(2), pending=False)
    row = next(r for r in experiment_results(users, _registry()).to_pylist() if r["metric"] == "conversion_rate")
    assert row["label_maturity"] == "mature" and row["expected_share_to_come"] == 0
    for k in ("control_mean", "treatment_mean", "effect", "std_error", "ci_low", "ci_high"):
        assert row[f"corrected_{k}"] == row[f"cuped_{k}"], k


# ---------------------------------------------------------------- fct_bandit_allocations
def _by(table: pa.Table) -> dict:
    return {(r["reward"], r["variant"]): r for r in table.to_pylist()}


def test_mature_bandit_is_the_allocation_on_the_figures_seen():
    """Every click mature: the rows are exactly the Thompson sampling of the figures seen
    (the eventual columns, here deliberately different, are not read)."""
    users = _users(np.random.default_rng(3), pending=False)
    users = users.set_column(users.schema.get_field_index("converted_corrected"), "converted_corrected",
                             pa.array(np.full(users.num_rows, 0.5)))
    rows = _by(bandit_allocations(users, _registry(), n_samples=5000, random_state=11))
    masks = [users["variant"].to_numpy(zero_copy_only=False) == v for v in ("control", "treatment")]
    ts = ThompsonSampling(min_share=0.05, n_samples=5000, random_state=11, alpha=0.05)
    conv, rev = users["converted"].to_numpy().astype(float), users["revenue"].to_numpy()
    expected = {"purchase": ts.allocate_binary([conv[m].sum() for m in masks], [float(m.sum()) for m in masks],
                                               arms=["control", "treatment"]),
                "revenue": ts.allocate_normal([rev[m] for m in masks], arms=["control", "treatment"])}
    for reward, al in expected.items():
        for i, arm in enumerate(al.arms):
            r = rows[reward, arm]
            assert (r["posterior_mean"], r["posterior_sd"], r["prob_best"], r["allocation"]) == (
                al.posterior_mean[i], al.posterior_sd[i], al.prob_best[i], al.allocation[i])
            assert (r["label_maturity"], r["estimator"]) == ("mature", "observed")
    assert rows["revenue", "control"]["expected_share_to_come"] == 0.0
    assert rows["click", "control"]["expected_share_to_come"] is None


def test_bandit_allocates_on_the_eventual_figures_while_purchases_are_to_come():
    users = _users(np.random.default_rng(4))
    rows = _by(bandit_allocations(users, _registry(), n_samples=5000))
    variant = users["variant"].to_numpy(zero_copy_only=False)
    imputed, rev_c = users["converted_corrected"].to_numpy(), users["revenue_corrected"].to_numpy()
    for arm in ("control", "treatment"):
        m = variant == arm
        p = rows["purchase", arm]
        # Beta(1 + sum of imputed indicators, 1 + users - that sum): fractional pseudo-counts
        assert (p["posterior_param_1"], p["posterior_param_2"]) == pytest.approx(
            (1 + imputed[m].sum(), 1 + m.sum() - imputed[m].sum()), rel=1e-12)
        assert rows["revenue", arm]["posterior_mean"] == pytest.approx(rev_c[m].mean(), rel=1e-12)
        for reward in ("purchase", "revenue"):
            assert (rows[reward, arm]["label_maturity"], rows[reward, arm]["estimator"]) == ("partial", "delay_corrected")
        assert (rows["click", arm]["label_maturity"], rows["click", arm]["estimator"]) == ("mature", "observed")
    assert rows["purchase", "control"]["expected_share_to_come"] == pytest.approx(
        1 - users["converted"].to_numpy().sum() / imputed.sum())
    assert rows["revenue", "control"]["expected_share_to_come"] == pytest.approx(1 - 1 / 1.25)


def test_bandit_without_a_delay_curve_stays_on_the_figures_seen():
    users = _users(np.random.default_rng(5))
    for column in ("converted_corrected", "revenue_corrected"):
        users = users.set_column(users.schema.get_field_index(column), column,
                                 pa.nulls(users.num_rows, pa.float64()))
    rows = _by(bandit_allocations(users, _registry(), n_samples=5000))
    conv = users["converted"].to_numpy()[users["variant"].to_numpy(zero_copy_only=False) == "control"]
    r = rows["purchase", "control"]
    assert (r["label_maturity"], r["estimator"], r["expected_share_to_come"]) == ("partial", "observed", None)
    assert r["posterior_param_1"] == 1 + conv.sum()


# -------------------------------------------------------------- fct_interleaving_results
def _requests(a, b, a_c, b_c, users, immature) -> pa.Table:
    n = len(a)
    return pa.table({"user_id": users, "clicks_a": [1] * n, "clicks_b": [1] * n,
                     "purchases_a": a, "purchases_b": b, "clicks_immature": immature,
                     "purchases_a_corrected": pa.array(a_c, pa.float64()),
                     "purchases_b_corrected": pa.array(b_c, pa.float64())})


def test_interleaving_corrected_credit_difference_hand_case():
    """Four requests of three users; the corrected differences are 2, -4, 0, 1 (mean -1/4)."""
    req = _requests([1, 0, 0, 1], [0, 1, 0, 0], [2.0, 0.0, 0.0, 1.0], [0.0, 4.0, 0.0, 0.0],
                    users=[1, 1, 2, 3], immature=[2, 2, 0, 0])
    row = {r["outcome"]: r for r in interleaving_results(req, "a", "b", n_bootstrap=200).to_pylist()}["purchases"]
    assert (row["credit_a_corrected"], row["credit_b_corrected"]) == (3.0, 4.0)
    assert row["label_maturity"] == "partial" and row["expected_share_to_come"] == pytest.approx(1 - 3 / 7)
    d, mean = np.array([2.0, -4.0, 0.0, 1.0]), -0.25
    # user-clustered sandwich SE: C/(C-1) / n^2 * sum over users of (sum of residuals)^2
    clusters = [d[:2].sum() - 2 * mean, d[2] - mean, d[3] - mean]
    se = np.sqrt(3 / 2 / 16 * np.sum(np.square(clusters)))
    assert row["corrected_mean_credit_difference"] == pytest.approx(mean)
    assert row["corrected_mean_credit_difference_std_error"] == pytest.approx(se)
    assert row["corrected_mean_credit_difference_ci_low"] == pytest.approx(mean - 1.959963984540054 * se)
    assert row["mean_credit_difference"] == pytest.approx((2 - 1) / 4)  # the seen credits
    # the sign statistics stay on the purchases seen: A 2 wins, B 1
    assert (row["wins"], row["losses"]) == (2, 1)


def test_mature_interleaving_corrected_equals_seen():
    req = _requests([1, 0, 2], [0, 1, 1], [1.0, 0.0, 2.0], [0.0, 1.0, 1.0], users=[1, 2, 3], immature=[0, 0, 0])
    rows = {r["outcome"]: r for r in interleaving_results(req, "a", "b", n_bootstrap=200).to_pylist()}
    p = rows["purchases"]
    assert p["label_maturity"] == "mature" and p["expected_share_to_come"] == 0
    assert (p["credit_a_corrected"], p["credit_b_corrected"]) == (p["credit_a"], p["credit_b"])
    for k in ("", "_std_error", "_ci_low", "_ci_high"):
        assert p[f"corrected_mean_credit_difference{k}"] == p[f"mean_credit_difference{k}"]
    assert rows["clicks"]["label_maturity"] == "mature" and rows["clicks"]["credit_a_corrected"] is None


def test_interleaving_corrected_difference_is_unbiased_for_the_eventual_one():
    """Team A converts more often; every request's purchases arrive by now with the request's
    probability F. Over repeated draws of the arrivals, the weighted difference averages to
    the eventual one, while the difference seen is short by the share still to come."""
    rng = np.random.default_rng(7)
    n = 400
    users = rng.integers(0, 150, n)
    eventual_a, eventual_b = rng.binomial(3, 0.2, n), rng.binomial(3, 0.1, n)
    f = rng.uniform(0.2, 1.0, n)
    truth = (eventual_a - eventual_b).mean()
    seen_d, corrected_d = [], []
    for _ in range(100):
        a, b = rng.binomial(eventual_a, f), rng.binomial(eventual_b, f)
        row = interleaving_results(_requests(a, b, a / f, b / f, users, [1] * n), "a", "b",
                                   n_bootstrap=100).to_pylist()[1]
        seen_d.append(row["mean_credit_difference"])
        corrected_d.append(row["corrected_mean_credit_difference"])
    mc_se = np.std(corrected_d, ddof=1) / np.sqrt(len(corrected_d))
    assert abs(np.mean(corrected_d) - truth) < 3 * mc_se
    assert np.mean(seen_d) < truth - 10 * mc_se
