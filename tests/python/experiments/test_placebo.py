"""A/A calibration on placebo splits (receval.experiments.placebo).

The vectorised estimators equal the pipeline's (analyze_metric / cuped_effect) on each
replicate's explicit split to 1e-9; the hash is SplitMix64 (reference outputs); on null data
the false-positive rate is alpha within its binomial error and the placebo spread is the
permutation variance of a difference in means; on users counted k times (a variance that
ignores clustering) the spread ratio is sqrt(k) and the metric is flagged.
"""
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from scipy import stats

from receval.experiments.analysis import analyze_metric, cuped_effect
from receval.experiments.placebo import (
    aa_calibration,
    calibration_summary,
    placebo_arms,
    placebo_estimates,
    splitmix64,
)
from receval.experiments.registry import METRICS

REGISTRY = pacsv.read_csv(Path(__file__).parents[3] / "seeds" / "experiment_registry.csv")
MASK = 2**64 - 1


def _splitmix64_int(x: int) -> int:
    """SplitMix64 in Python integers (Steele et al. 2014; Vigna's splitmix64.c)."""
    z = (x + 0x9E3779B97F4A7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def _users(rng, n, experiment="exp_aa", duplicates=1, ids=None):
    """A synthetic fct_experiment_user_metrics of one experiment (no treatment): skewed
    counts and revenue correlated with their pre-period, 30% of users without one. With
    ``duplicates`` k every user's row appears k times under the same user_id."""
    activity = rng.gamma(2.0, 1.0, n)
    has_pre = rng.random(n) < 0.7
    pre_imp = np.where(has_pre, rng.poisson(20 * activity), 0)
    imp = rng.poisson(20 * activity) + 1
    clicks = rng.binomial(imp, 0.05 + 0.02 * (activity > 2))
    converted = (rng.random(n) < 0.1 * np.minimum(activity, 3)).astype(int)
    purchases = converted * (1 + rng.poisson(0.5, n))
    revenue = purchases * rng.lognormal(3, 1, n)
    cols = dict(
        experiment_id=[experiment] * n, variant=["control"] * n,
        user_id=np.arange(n) * 7919 + 13 if ids is None else ids,
        impressions=imp, clicks=clicks, purchases=purchases, converted=converted, revenue=revenue,
        sessions=rng.poisson(2 * activity) + 1,
        pre_impressions=pre_imp, pre_clicks=rng.binomial(pre_imp, 0.05),
        pre_purchases=np.where(has_pre, rng.poisson(0.3 * activity), 0),
        pre_converted=np.where(has_pre, rng.random(n) < 0.2, 0).astype(int),
        pre_revenue=np.where(has_pre, rng.lognormal(2, 1, n) * (rng.random(n) < 0.2), 0.0),
        pre_sessions=np.where(has_pre, rng.poisson(2 * activity), 0),
        has_pre_period=has_pre,
        converted_corrected=np.minimum(converted + 0.1 * rng.random(n), 1.0),
        purchases_corrected=purchases * 1.1, revenue_corrected=revenue * 1.1,
        first_exposure_day=rng.integers(20000, 20007, n),
    )
    return {k: np.repeat(np.asarray(x), duplicates) for k, x in cols.items()}


def _table(cols):
    return pa.table({k: pa.array(v) for k, v in cols.items() if k != "first_exposure_day"})


def test_splitmix64_matches_the_reference_outputs():
    # splitmix64.c seeded with 1234567: its first two outputs
    assert int(splitmix64(1234567)) == 6457827717110365317
    assert int(splitmix64(1234567 + 0x9E3779B97F4A7C15)) == 3203168211198807973
    xs = [0, 1, 2**63, MASK, 987654321987654321]
    assert splitmix64(np.array(xs, dtype=np.uint64)).tolist() == [_splitmix64_int(x) for x in xs]


def test_placebo_arms_are_the_documented_salted_hash():
    ids = np.array([-5, 0, 3, 2**40 + 1, 123456789])
    arms = placebo_arms(ids, 6, random_state=11)
    for r in range(6):
        salt = _splitmix64_int((_splitmix64_int(11) + r) & MASK)
        for i, u in enumerate(ids):
            assert arms[i, r] == bool(_splitmix64_int((int(u) & MASK) ^ salt) >> 63)


def test_placebo_arms_are_deterministic_per_user_and_half_half():
    ids = np.arange(20000) * 31 + 7
    arms = placebo_arms(ids, 50, random_state=3)
    assert np.array_equal(arms, placebo_arms(ids, 50, random_state=3))
    # a user's arm does not depend on the other users
    assert np.array_equal(arms[::7], placebo_arms(ids[::7], 50, random_state=3))
    assert not np.array_equal(arms, placebo_arms(ids, 50, random_state=4))
    share = arms.mean(axis=0)  # Bernoulli(1/2) per user: each replicate's share within 4 SE
    assert np.all(np.abs(share - 0.5) < 4 * np.sqrt(0.25 / ids.size))
    # replicates are independent splits: two replicates agree on half the users
    agree = (arms[:, 0] == arms[:, 1]).mean()
    assert abs(agree - 0.5) < 4 * np.sqrt(0.25 / ids.size)


@pytest.mark.parametrize("metric", sorted(METRICS))
def test_vectorised_estimators_equal_the_pipeline_on_each_split(metric):
    rng = np.random.default_rng(1)
    cols = _users(rng, 600)
    cols["pre_impressions"][:5] = 0  # users with pre-period requests but no pre impressions
    spec = METRICS[metric]
    arms = placebo_arms(cols["user_id"], 4, random_state=2)
    estimates = placebo_estimates(cols, spec, arms)
    expected = {"raw", "cuped"} | ({"cuped_delay_corrected"} if spec.corrected_column else set())
    assert {e.estimator for e in estimates} == expected
    for r in range(arms.shape[1]):
        a = {k: x[~arms[:, r]] for k, x in cols.items()}
        b = {k: x[arms[:, r]] for k, x in cols.items()}
        analysis = analyze_metric(spec, metric, a, b, alpha=0.05)
        reference = {"raw": analysis.raw, "cuped": analysis.cuped}
        if spec.corrected_column:
            reference["cuped_delay_corrected"] = cuped_effect(
                replace(spec, column=spec.corrected_column), metric, a, b, 0.05)
        for est in estimates:
            ref = reference[est.estimator]
            assert est.method == ref.method
            assert est.effect[r] == pytest.approx(ref.effect, rel=1e-9, abs=1e-9 * ref.std_error)
            assert est.std_error[r] == pytest.approx(ref.std_error, rel=1e-9)
            assert est.p_value[r] == pytest.approx(ref.p_value, rel=1e-9)


def test_a_split_with_an_arm_too_small_is_left_out():
    cols = _users(np.random.default_rng(2), 6)
    arms = np.zeros((6, 3), dtype=bool)
    arms[:3, 0] = True      # 3 / 3: defined
    arms[:1, 1] = True      # 5 / 1: undefined
    arms[:, 2] = True       # 0 / 6: undefined
    (raw, *_) = placebo_estimates(cols, METRICS["sessions_per_user"], arms)
    assert np.isfinite(raw.p_value).tolist() == [True, False, False]


def test_null_data_false_positive_rate_is_alpha_and_spread_the_permutation_variance():
    rng = np.random.default_rng(5)
    cols = _users(rng, 4000)
    n_rep = 2000
    out = aa_calibration(_table(cols), REGISTRY, n_replicates=n_rep, random_state=1).to_pandas()
    row = out[(out["metric"] == "sessions_per_user") & (out["estimator"] == "raw")].iloc[0]
    se = np.sqrt(0.05 * 0.95 / n_rep)
    assert row["n_replicates"] == n_rep and row["binomial_std_error"] == pytest.approx(se, rel=1e-12)
    assert abs(row["false_positive_rate"] - 0.05) < 3 * se
    # a random split of N fixed users: Var(mean_B - mean_A) = S^2 (1/n_A + 1/n_B), ~ 4 S^2 / N
    y = cols["sessions"].astype(float)
    known_sd = np.sqrt(4 * np.var(y, ddof=1) / y.size)
    assert row["rms_std_error"] == pytest.approx(known_sd, rel=0.01)
    lo, hi = np.sqrt(stats.chi2.ppf([0.001, 0.999], n_rep - 1) / (n_rep - 1))
    assert lo < row["placebo_effect_sd"] / known_sd < hi
    assert row["spread_ratio_ci_low"] < 1 < row["spread_ratio_ci_high"]
    assert abs(row["mean_placebo_effect"]) < 4 * row["mean_placebo_effect_std_error"]
    assert row["status"] == "ok"


def test_users_counted_several_times_are_caught():
    # every user counted 4 times as independent rows: the split is by user (same id, same
    # arm) but Welch's SE treats rows as independent, so it is sqrt(4) = 2 times too small
    rng = np.random.default_rng(6)
    cols = _users(rng, 1000, duplicates=4)
    out = aa_calibration(_table(cols), REGISTRY, n_replicates=1000, random_state=2).to_pandas()
    row = out[(out["metric"] == "sessions_per_user") & (out["estimator"] == "raw")].iloc[0]
    assert row["spread_ratio_ci_low"] < 2 < row["spread_ratio_ci_high"]
    assert row["spread_ratio_ci_low"] > 1
    # P(|Z| > 1.96 / 2) = 0.327 for a normal placebo effect whose SE is half its sd
    assert abs(row["false_positive_rate"] - 2 * stats.norm.sf(1.96 / 2)) < 3 * np.sqrt(0.327 * 0.673 / 1000)
    assert row["false_positive_rate"] > row["false_positive_rate_upper_limit"]
    assert row["status"] == "miscalibrated"
    assert (out["status"] == "miscalibrated").all()  # every metric's SE ignores the duplication


def test_summary_counts_the_rejections_and_the_interval_is_chi_square():
    effect = np.array([0.1, -0.2, 0.3, 0.0, np.nan])
    se = np.array([0.1, 0.1, 0.2, 0.1, np.nan])
    p = np.array([0.01, 0.2, 0.04, 1.0, np.nan])
    s = calibration_summary(effect, se, p, alpha=0.05)
    assert s["n_replicates"] == 4 and s["n_false_positives"] == 2 and s["false_positive_rate"] == 0.5
    sd, rms = np.std(effect[:4], ddof=1), np.sqrt(np.mean(se[:4] ** 2))
    assert s["spread_ratio"] == pytest.approx(sd / rms, rel=1e-12)
    assert s["spread_ratio_ci_high"] == pytest.approx(sd / rms * np.sqrt(3 / stats.chi2.ppf(0.025, 3)), rel=1e-12)
    assert s["false_positive_rate_upper_limit"] == pytest.approx(0.05 + 2 * np.sqrt(0.05 * 0.95 / 4))
    assert s["status"] == "miscalibrated"


def test_every_registry_metric_and_estimator_has_a_row_and_empty_input_an_empty_table():
    cols = _users(np.random.default_rng(8), 300)
    out = aa_calibration(_table(cols), REGISTRY, n_replicates=20).to_pandas()
    metrics = [m for m in REGISTRY.to_pylist() if m["entry"] == "metric" and m["experiment_id"] == "exp_aa"]
    expected = {(m["name"], e) for m in metrics for e in ("raw", "cuped")} | {
        (m["name"], "cuped_delay_corrected") for m in metrics if METRICS[m["name"]].corrected_column}
    assert set(zip(out["metric"], out["estimator"])) == expected
    assert (out["experiment_id"] == "exp_aa").all() and (out["n_users"] == 300).all()
    empty = aa_calibration(_table(cols).slice(0, 0), REGISTRY)
    assert empty.num_rows == 0 and "false_positive_rate" in empty.column_names


def test_bad_vars_are_named():
    table = _table(_users(np.random.default_rng(9), 10))
    with pytest.raises(ValueError, match="experiment_aa_replicates"):
        aa_calibration(table, REGISTRY, n_replicates=1)
    with pytest.raises(ValueError, match="experiment_aa_random_state"):
        aa_calibration(table, REGISTRY, random_state=-1)
