"""Integration: the online-experimentation marts on the session's tiny build (seed 7).

Every number a mart reports is recomputed here, independently, from the per-user metric
table (fct_experiment_user_metrics) or the labels, with statsmodels / scipy / numpy:
Welch and CUPED against statsmodels to 1e-6, the delta method by its formula, SRM against
scipy's chisquare, guardrails against statsmodels' non-inferiority t-test, interleaving
credit against a recount of the labelled impressions.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from receval.experiments.registry import METRICS

pytestmark = pytest.mark.dbt
TOL = 1e-6


@pytest.fixture(scope="module")
def results(tiny_warehouse):
    return tiny_warehouse.query("select * from fct_experiment_results")


@pytest.fixture(scope="module")
def users(tiny_warehouse):
    return tiny_warehouse.query("select * from fct_experiment_user_metrics")


def _arms(users, row):
    exp = users[users["experiment_id"] == row["experiment_id"]]
    return exp[exp["variant"] == row["control_variant"]], exp[exp["variant"] == row["variant"]]


def test_every_registered_metric_has_a_row_per_treatment_variant(results, tiny_warehouse):
    registry = tiny_warehouse.query("select * from main_seeds.experiment_registry")
    metrics = registry[registry["entry"] == "metric"]
    treatments = registry[(registry["entry"] == "variant") & ~registry["is_control"].fillna(False).astype(bool)]
    expected = metrics.merge(treatments[["experiment_id", "name"]], on="experiment_id", suffixes=("", "_v"))
    assert len(results) == len(expected) > 0
    assert set(zip(results["experiment_id"], results["variant"], results["metric"])) == set(
        zip(expected["experiment_id"], expected["name_v"], expected["name"]))


def test_mean_metrics_equal_statsmodels_welch(results, users):
    rows = results[results["metric_type"] == "mean"]
    assert len(rows) >= 10
    for _, r in rows.iterrows():
        c, t = _arms(users, r)
        col = METRICS[r["metric"]].column
        yc, yt = c[col].to_numpy(float), t[col].to_numpy(float)
        cm = CompareMeans(DescrStatsW(yt), DescrStatsW(yc))
        tstat, p, df = cm.ttest_ind(usevar="unequal")
        se = cm.std_meandiff_separatevar
        lo, hi = cm.tconfint_diff(alpha=r["alpha"], usevar="unequal")
        assert r["n_control"] == len(yc) and r["n_treatment"] == len(yt)
        assert r["effect"] == pytest.approx(yt.mean() - yc.mean(), abs=TOL)
        assert r["std_error"] == pytest.approx(se, abs=TOL, rel=TOL)
        assert r["p_value"] == pytest.approx(p, abs=TOL)
        assert r["df"] == pytest.approx(df, rel=TOL)
        assert (r["ci_low"], r["ci_high"]) == pytest.approx((lo, hi), abs=TOL)


def test_cuped_equals_ols_with_the_covariate(results, users):
    """Effect and theta = OLS Y ~ 1 + T + X (+ no-pre-period indicator D); the SE from that
    regression's residuals, each arm's share of its residual df and theta's error (the
    classical OLS variance of T less its known-theta part); p and df a t test on them."""
    rows = results[results["metric_type"] == "mean"]
    checked = 0
    for _, r in rows.iterrows():
        c, t = _arms(users, r)
        spec = METRICS[r["metric"]]
        both = pd.concat([c, t])
        y = both[spec.column].to_numpy(float)
        treat = (both["variant"] == r["variant"]).to_numpy(float)
        missing = ~both["has_pre_period"].to_numpy(bool)
        x = np.where(missing, 0.0, both[spec.pre_column].to_numpy(float))
        cov = [x] + ([missing.astype(float)] if missing.any() else [])
        design = np.column_stack([np.ones_like(y), treat, *cov])
        fit = sm.OLS(y, design).fit()
        assert r["cuped_effect"] == pytest.approx(fit.params[1], abs=TOL)
        assert r["cuped_theta"] == pytest.approx(fit.params[2], abs=TOL, rel=TOL)
        n, k = len(y), len(cov)
        var = []
        for arm in (0, 1):
            n_a = int((treat == arm).sum())
            ss = float(np.sum(fit.resid[treat == arm] ** 2))
            var.append((ss / (n_a * (n_a - 1 - k * n_a / n)), n_a - 1 - k * n_a / n, n - n_a))
        theta_var = fit.cov_params()[1, 1] - fit.scale * (1 / var[0][2] + 1 / var[1][2])
        vc, vt = (v + theta_var * other / n for v, _, other in var)
        assert r["cuped_std_error"] == pytest.approx(np.sqrt(vc + vt), abs=TOL, rel=TOL)
        df = (vc + vt) ** 2 / (vc**2 / var[0][1] + vt**2 / var[1][1])
        assert r["cuped_df"] == pytest.approx(df, rel=TOL)
        assert r["cuped_p_value"] == pytest.approx(2 * stats.t.sf(abs(r["cuped_effect"]) / np.sqrt(vc + vt), df),
                                                   abs=TOL)
        assert r["n_without_pre_period"] == int(missing.sum())
        # The raw side of the row is the unadjusted estimate; the reduction is 1 - SE_cv^2 / SE^2.
        assert r["variance_reduction"] == pytest.approx(1 - r["cuped_std_error"] ** 2 / r["std_error"] ** 2, abs=TOL)
        checked += 1
    assert checked >= 10


def test_ctr_uses_the_delta_method(results, users):
    rows = results[results["metric"] == "ctr"]
    assert len(rows) == 2
    for _, r in rows.iterrows():
        est = {}
        for arm, frame in zip(("c", "t"), _arms(users, r)):
            x, y = frame["clicks"].to_numpy(float), frame["impressions"].to_numpy(float)
            ratio = x.sum() / y.sum()
            lin = (x - ratio * y) / y.mean()
            est[arm] = (ratio, lin.var(ddof=1) / len(x))
        assert r["control_mean"] == pytest.approx(est["c"][0], abs=TOL)
        assert r["effect"] == pytest.approx(est["t"][0] - est["c"][0], abs=TOL)
        se = np.sqrt(est["c"][1] + est["t"][1])
        assert r["std_error"] == pytest.approx(se, rel=TOL)
        # a t reference with the Welch-Satterthwaite df of the linearised values
        n_c, n_t = (len(frame) for frame in _arms(users, r))
        df = se**4 / (est["c"][1] ** 2 / (n_c - 1) + est["t"][1] ** 2 / (n_t - 1))
        assert r["df"] == pytest.approx(df, rel=TOL)
        assert r["p_value"] == pytest.approx(2 * stats.t.sf(abs(r["effect"]) / se, df), abs=TOL)


def test_bh_adjustment_within_each_experiment(results):
    from statsmodels.stats.multitest import multipletests
    for _, g in results.groupby(["experiment_id", "variant"]):
        for prefix in ("", "cuped_"):
            adj = multipletests(g[f"{prefix}p_value"], method="fdr_bh")[1]
            assert g[f"{prefix}bh_adjusted_p_value"].to_numpy() == pytest.approx(adj, abs=TOL)


def test_aa_experiment_is_not_significant(results, tiny_warehouse):
    aa = results[results["experiment_id"] == "exp_aa"]
    assert len(aa) == 7
    assert (aa["bh_adjusted_p_value"] > 0.05).all() and (aa["cuped_bh_adjusted_p_value"] > 0.05).all()
    primary = aa[aa["role"] == "primary"].iloc[0]
    assert primary["p_value"] > 0.05 and primary["cuped_p_value"] > 0.05 and primary["msprt_p_value"] > 0.05
    card = tiny_warehouse.query("select * from rpt_experiment_scorecard where experiment_id = 'exp_aa'")
    assert card["decision"].item() in ("inconclusive", "continue", "invalid")


def test_srm_equals_scipy_chisquare(tiny_warehouse):
    srm = tiny_warehouse.query("select * from fct_srm_checks")
    exposures = tiny_warehouse.query("select * from fct_experiment_exposures")
    assert set(srm["experiment_id"]) == {"exp_ranker", "exp_aa"}
    for exp, g in srm.groupby("experiment_id"):
        g = g.sort_values("variant")
        included = exposures[(exposures["experiment_id"] == exp) & ~exposures["is_excluded"]]
        counts = included.groupby("variant").size().reindex(g["variant"]).to_numpy()
        assert g["observed_users"].tolist() == counts.tolist()
        expected = counts.sum() * g["expected_share"].to_numpy() / g["expected_share"].sum()
        chi2, p = stats.chisquare(counts, expected)
        assert g["chi_square"].to_numpy() == pytest.approx(chi2, abs=TOL)
        assert g["p_value"].to_numpy() == pytest.approx(p, abs=TOL)
        assert (g["srm_detected"] == (p < 0.001)).all()


def test_exposures_cover_assignments_and_requests_once(tiny_warehouse):
    exposures = tiny_warehouse.query("select * from fct_experiment_exposures")
    events = tiny_warehouse.query("""
        select experiment_id, user_id, min(ts) as first_ts, count(distinct variant) as n_variants from (
            select experiment_id, variant, user_id, ts from stg_landing__assignments
            union all
            select experiment_id, variant, user_id, ts from stg_landing__requests where experiment_id is not null
        ) group by 1, 2""")
    merged = exposures.merge(events, on=["experiment_id", "user_id"], how="outer", indicator=True)
    assert (merged["_merge"] == "both").all()
    assert (merged["first_exposure_at"] == merged["first_ts"]).all()
    assert (merged["is_excluded"] == (merged["n_variants_y"] > 1)).all()
    users = tiny_warehouse.query("select count(*) as n from fct_experiment_user_metrics")
    assert users["n"].item() == int((~exposures["is_excluded"]).sum())


def test_guardrails_equal_statsmodels_non_inferiority(tiny_warehouse, users):
    checks = tiny_warehouse.query("select * from fct_guardrail_checks")
    assert set(checks["guardrail"]) == {"p99_latency_ms", "error_rate", "fallback_rate"}
    for _, r in checks[checks["unit"] == "user"].iterrows():
        c, t = _arms(users, r)
        yc, yt = c[r["guardrail"]].dropna().to_numpy(float), t[r["guardrail"]].dropna().to_numpy(float)
        _, p, _ = CompareMeans(DescrStatsW(yt), DescrStatsW(yc)).ttest_ind(
            usevar="unequal", value=r["margin"], alternative="smaller")
        assert r["effect"] == pytest.approx(yt.mean() - yc.mean(), abs=TOL)
        assert r["p_value"] == pytest.approx(p, abs=TOL)
        assert r["non_inferior"] == (p < r["alpha"])
    requests = tiny_warehouse.query("select * from int_experiments__exposed_requests")
    for _, r in checks[checks["guardrail"] == "p99_latency_ms"].iterrows():
        exp = requests[requests["experiment_id"] == r["experiment_id"]]
        qc = np.quantile(exp[exp["variant"] == r["control_variant"]]["latency_ms"], 0.99)
        qt = np.quantile(exp[exp["variant"] == r["variant"]]["latency_ms"], 0.99)
        assert (r["control_value"], r["treatment_value"]) == pytest.approx((qc, qt), abs=TOL)
        assert r["effect"] == pytest.approx(qt / qc - 1, abs=TOL)  # relative margin in the registry


def test_scorecard_one_decision_per_experiment_consistent_with_its_inputs(tiny_warehouse, results):
    card = tiny_warehouse.query("select * from rpt_experiment_scorecard")
    assert sorted(card["experiment_id"]) == ["exp_aa", "exp_ranker"]
    checks = tiny_warehouse.query("select * from fct_guardrail_checks")
    srm = tiny_warehouse.query("select * from fct_srm_checks")
    for _, r in card.iterrows():
        primary = results[(results["experiment_id"] == r["experiment_id"]) & (results["role"] == "primary")].iloc[0]
        running = r["decision_test"] == "always_valid"
        # the deciding test: the raw effect with the mSPRT while running, CUPED at the planned end
        effect, p = (primary["effect"], primary["msprt_p_value"]) if running else (
            primary["cuped_effect"], primary["cuped_p_value"])
        assert r["effect"] == pytest.approx(effect, abs=TOL) and r["p_value"] == pytest.approx(p, abs=TOL)
        assert r["fixed_horizon_p_value"] == pytest.approx(primary["cuped_p_value"], abs=TOL)
        failed = checks[(checks["experiment_id"] == r["experiment_id"]) & ~checks["non_inferior"]]
        srm_hit = srm[srm["experiment_id"] == r["experiment_id"]]["srm_detected"].any()
        if srm_hit or len(failed):
            assert r["decision"] == "invalid"
        elif p < primary["alpha"]:
            assert r["decision"] == ("ship" if effect > 0 else "dont_ship")
        else:
            assert r["decision"] == ("continue" if running else "inconclusive")
        assert r["primary_metric"] in r["reason"] or "guardrail" in r["reason"] or "ratio" in r["reason"]


def test_scorecard_decision_test_follows_the_registry_planned_end(tiny_warehouse):
    """The tiny world's experiments start on its main window's first day (2026-09-03) and
    its data end on 2026-09-09: well before either planned end (planned_days 28 and 42), so
    both are running and the always-valid mSPRT decides."""
    card = tiny_warehouse.query("select * from rpt_experiment_scorecard").set_index("experiment_id")
    registry = tiny_warehouse.query(
        "select experiment_id, planned_days from main_seeds.experiment_registry where role = 'primary'")
    starts = tiny_warehouse.query(
        "select experiment_id, min(first_exposure_date) as start from fct_experiment_exposures group by 1")
    as_of = tiny_warehouse.query("select as_of from int_labels__data_end")["as_of"].item()
    plan = registry.merge(starts, on="experiment_id").set_index("experiment_id")
    assert sorted(plan.index) == sorted(card.index) == ["exp_aa", "exp_ranker"]
    for exp, r in card.iterrows():
        end = pd.Timestamp(plan.loc[exp, "start"]) + pd.Timedelta(days=int(plan.loc[exp, "planned_days"]))
        assert pd.Timestamp(r["first_exposure_date"]) == pd.Timestamp(plan.loc[exp, "start"])
        assert pd.Timestamp(r["planned_end_date"]) == end
        assert r["is_running"] == bool(pd.Timestamp(as_of) < end) == True  # noqa: E712
        assert r["decision_test"] == "always_valid" and r["estimator"] == "msprt"
        assert r["p_value"] == r["msprt_p_value"] and r["ci_low"] <= r["effect"] <= r["ci_high"]
        assert r["decision"] != "inconclusive"  # not final while running: continue instead
        assert "running" in r["decision_test_reason"] and end.date().isoformat() in r["decision_test_reason"]


def test_interleaving_credit_matches_a_recount_of_the_labels(tiny_warehouse):
    res = tiny_warehouse.query("select * from fct_interleaving_results").set_index("outcome")
    imps = tiny_warehouse.query(
        "select request_id, user_id, team, is_clicked, is_converted from fct_impression_labels where team is not null")
    assert len(imps) > 0
    for outcome, label in (("clicks", "is_clicked"), ("purchases", "is_converted")):
        per = imps.assign(a=(imps["team"] == "A") & imps[label], b=(imps["team"] == "B") & imps[label]) \
            .groupby("request_id").agg(user_id=("user_id", "min"), a=("a", "sum"), b=("b", "sum"))
        r = res.loc[outcome]
        assert r["credit_a"] == per["a"].sum() and r["credit_b"] == per["b"].sum()
        assert r["n_requests"] == len(per)
        assert (r["wins"], r["losses"]) == ((per["a"] > per["b"]).sum(), (per["a"] < per["b"]).sum())
        assert r["ties"] == ((per["a"] == per["b"]) & (per["a"] > 0)).sum()
        w, t, l_ = r["wins"], r["ties"], r["losses"]
        if w + t + l_:
            assert r["preference"] == pytest.approx((w + t / 2) / (w + t + l_) - 0.5, abs=TOL)
        per_user = per.groupby("user_id")[["a", "b"]].sum()
        uw, ul = int((per_user["a"] > per_user["b"]).sum()), int((per_user["a"] < per_user["b"]).sum())
        assert (r["user_wins"], r["user_losses"]) == (uw, ul)
        if uw + ul:
            assert r["p_value"] == pytest.approx(stats.binomtest(uw, uw + ul, 0.5).pvalue, abs=TOL)


def test_bandit_allocations_are_a_distribution_with_the_minimum_share(tiny_warehouse, users):
    alloc = tiny_warehouse.query("select * from fct_bandit_allocations")
    assert len(alloc) == 2 * 3 * 2
    sums = alloc.groupby(["experiment_id", "reward"])["allocation"].sum()
    assert sums.to_numpy() == pytest.approx(1.0, abs=1e-9)
    assert (alloc["allocation"] >= alloc["min_share"] - 1e-12).all()
    clicks = alloc[alloc["reward"] == "click"].set_index(["experiment_id", "variant"])
    per_arm = users.groupby(["experiment_id", "variant"])[["clicks", "impressions"]].sum()
    joined = clicks.join(per_arm)
    # Beta(1 + clicks, 1 + impressions - clicks) posterior mean.
    assert joined["posterior_mean"].to_numpy() == pytest.approx(
        ((1 + joined["clicks"]) / (2 + joined["impressions"])).to_numpy(), abs=1e-12)


def test_shadow_comparison_statistics(tiny_warehouse):
    shadow = tiny_warehouse.query("select * from fct_shadow_comparison").set_index("statistic")
    pairs = tiny_warehouse.query("select * from int_experiments__shadow_pairs")
    assert len(pairs) > 0
    assert shadow.loc["score_correlation", "difference"] == pytest.approx(
        np.corrcoef(pairs["production_score"], pairs["challenger_score"])[0, 1], abs=TOL)
    per = pairs.groupby("request_id")[["production_score", "challenger_score", "is_clicked"]].mean()
    r = shadow.loc["mean_predicted_ctr"]
    assert (r["production_value"], r["challenger_value"]) == pytest.approx(
        (per["production_score"].mean(), per["challenger_score"].mean()), abs=TOL)
    gap = shadow.loc["calibration_gap"]
    assert gap["production_value"] == pytest.approx((per["production_score"] - per["is_clicked"]).mean(), abs=TOL)
    lat = pairs.groupby("request_id")[["production_latency_ms", "challenger_latency_ms"]].first()
    p99 = shadow.loc["latency_p99_ms"]
    assert (p99["production_value"], p99["challenger_value"]) == pytest.approx(
        (np.quantile(lat["production_latency_ms"], 0.99), np.quantile(lat["challenger_latency_ms"], 0.99)), abs=TOL)
    assert 0 <= shadow.loc["overlap_at_k", "difference"] <= 1
    assert (shadow["std_error"] >= 0).all() and (shadow["n"] > 0).all()


def test_scorecard_reads_the_delay_corrected_estimate_while_purchases_are_still_to_come(tiny_warehouse, results):
    """With revenue_per_user as exp_aa's primary metric, read after its planned end (the
    fixed-horizon test decides): on the tiny world (every window still open) the decision
    rests on the corrected CUPED estimate; once the labels are mature, on the plain CUPED
    one. (While running, the always-valid mSPRT of the purchases seen decides instead.)"""
    import pyarrow as pa

    from receval.experiments.marts import experiment_scorecard

    registry = tiny_warehouse.query("select * from main_seeds.experiment_registry")
    registry["role"] = np.where(registry.experiment_id.eq("exp_aa") & registry.entry.eq("metric"),
                                np.where(registry.name.eq("revenue_per_user"), "primary", "secondary"),
                                registry.role)
    registry["planned_days"] = np.where(registry.experiment_id.eq("exp_aa") & registry.entry.eq("metric"),
                                        np.where(registry.name.eq("revenue_per_user"), 42, np.nan),
                                        registry.planned_days)
    srm, guardrails, exposures = (
        pa.Table.from_pandas(tiny_warehouse.query(f"select * from {t}"), preserve_index=False)
        for t in ("fct_srm_checks", "fct_guardrail_checks", "fct_experiment_exposures"))
    # the fixed-horizon test decides (the corrected path is its): read after the planned end
    after_planned_end = pa.table({"as_of": pa.array([pd.Timestamp("2027-01-01")], pa.timestamp("us"))})
    row = results[(results.experiment_id == "exp_aa") & (results.metric == "revenue_per_user")].iloc[0]
    assert row.label_maturity == "immature" and row.expected_share_to_come > 0
    for maturity, estimator, prefix in (("immature", "cuped_delay_corrected", "corrected_"), ("mature", "cuped", "cuped_")):
        table = results.assign(label_maturity=np.where(results.metric == "revenue_per_user", maturity, results.label_maturity))
        card = experiment_scorecard(pa.Table.from_pandas(table, preserve_index=False), srm, guardrails,
                                    pa.Table.from_pandas(registry, preserve_index=False),
                                    exposures, after_planned_end).to_pandas()
        card = card.set_index("experiment_id").loc["exp_aa"]
        assert card.primary_metric == "revenue_per_user" and card.estimator == estimator
        assert card.decision_test == "fixed_horizon" and not card.is_running
        assert (card.effect, card.ci_low, card.p_value) == pytest.approx(
            (row[f"{prefix}effect"], row[f"{prefix}ci_low"], row[f"{prefix}p_value"]))
