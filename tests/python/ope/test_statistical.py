"""Estimators against the exact truth of synthetic problems (fast; seeded)."""
import numpy as np
import pytest

from receval import ope
from receval.ope.synthetic import make_bandit, make_ranking


@pytest.fixture(scope="module")
def bandit():
    return make_bandit(4000, random_state=3)


def _within(res, truth, k=3.0):
    assert abs(res.estimate - truth) <= k * res.std_error, (res.estimator, res.estimate, truth, res.std_error)


def test_ips_snips_dr_recover_truth(bandit):
    b = bandit
    ql, qt = b.q_inputs(b.q)
    _within(ope.IPS().estimate_policy_value(b.reward, b.p_log, b.p_target), b.true_value)
    _within(ope.SNIPS().estimate_policy_value(b.reward, b.p_log, b.p_target), b.true_value)
    _within(ope.DoublyRobust().estimate_policy_value(b.reward, b.p_log, b.p_target, ql, qt), b.true_value)
    _within(ope.SNDR().estimate_policy_value(b.reward, b.p_log, b.p_target, ql, qt), b.true_value)


def test_dr_with_cross_fitted_model_recovers_truth_and_beats_ips(bandit):
    b = bandit
    qhat = ope.RewardModel("logistic", n_folds=3).fit_predict(b.features, b.action, b.reward, b.n_actions)
    ql, qt = ope.q_hat_inputs(qhat, b.action, b.target_dist[b.context])
    dr = ope.DoublyRobust().estimate_policy_value(b.reward, b.p_log, b.p_target, ql, qt)
    ips = ope.IPS().estimate_policy_value(b.reward, b.p_log, b.p_target)
    _within(dr, b.true_value)
    assert dr.std_error < ips.std_error
    dm = ope.DirectMethod().estimate_policy_value(q_hat_target=qt)
    assert abs(dm.estimate - b.true_value) < 0.05  # the model is close (linear-logistic truth)


def test_dr_variance_below_ips_over_replications():
    ips_est, dr_est = [], []
    for s in range(30):
        b = make_bandit(2000, random_state=3, reward_random_state=1000 + s)
        ql, qt = b.q_inputs(b.q)
        ips_est.append(ope.IPS().estimate_policy_value(b.reward, b.p_log, b.p_target).estimate)
        dr_est.append(ope.DoublyRobust().estimate_policy_value(b.reward, b.p_log, b.p_target, ql, qt).estimate)
    assert np.var(dr_est, ddof=1) < np.var(ips_est, ddof=1)


def test_replay_on_uniform_slice():
    rng = np.random.default_rng(11)
    n, k = 6000, 4
    ctx = rng.integers(0, 50, n)
    q = rng.uniform(0.05, 0.6, size=(50, k))
    target = q.argmax(axis=1)  # deterministic greedy target
    logged = rng.integers(0, k, n)
    r = (rng.random(n) < q[ctx, logged]).astype(float)
    res = ope.Replay().estimate_policy_value(r, logged_action=logged, target_action=target[ctx],
                                             p_log=np.full(n, 1 / k))
    truth = q[np.arange(50), target].mean()
    _within(res, truth)
    assert 0.2 * n < res.effective_sample_size < 0.3 * n


def test_clipping_bias_is_downward_with_nonnegative_rewards(bandit):
    b = bandit
    full = ope.IPS().estimate_policy_value(b.reward, b.p_log, b.p_target)
    clipped = ope.IPS(clip=2.0).estimate_policy_value(b.reward, b.p_log, b.p_target)
    assert clipped.estimate <= full.estimate and clipped.std_error < full.std_error


@pytest.fixture(scope="module")
def ranking():
    return make_ranking(4000, random_state=5)


def test_item_position_ips_recovers_clicks_per_list(ranking):
    r = ranking
    res = ope.ItemPositionIPS().estimate_policy_value(r.click, r.p_log, r.p_target, group_ids=r.list_id)
    _within(res, r.true_value)
    assert res.n_groups == 4000 and res.n == r.click.size


def test_pbm_ips_recovers_clicks_per_list_with_lower_variance(ranking):
    r = ranking
    pbm = ope.PositionBasedIPS(examination=r.examination).estimate_policy_value(
        r.click, r.p_log_positions, r.p_target_positions, group_ids=r.list_id
    )
    ip = ope.ItemPositionIPS().estimate_policy_value(r.click, r.p_log, r.p_target, group_ids=r.list_id)
    _within(pbm, r.true_value)
    assert pbm.std_error < ip.std_error
    # same result from the 1-D examination-weighted propensities
    pl = ope.pbm_propensity(r.p_log_positions, r.examination)
    pt = ope.pbm_propensity(r.p_target_positions, r.examination)
    one_d = ope.PositionBasedIPS().estimate_policy_value(r.click, pl, pt, group_ids=r.list_id)
    assert one_d.estimate == pytest.approx(pbm.estimate)
