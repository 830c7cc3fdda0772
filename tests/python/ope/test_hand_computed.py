"""Every estimator on 4-5 rounds whose values are worked out by hand in the comments."""
import math

import numpy as np
import pytest

from receval import ope

# 4 rounds:          w = p_target / p_log = [2, 2, 0.5, 0.5]
R = [1.0, 0.0, 1.0, 0.0]
P_LOG = [0.5, 0.25, 0.5, 1.0]
P_TGT = [1.0, 0.5, 0.25, 0.5]
Q_LOG = [0.5, 0.5, 0.5, 0.2]
Q_TGT = [0.6, 0.4, 0.6, 0.4]
Z = 1.959963984540054


def test_ips_by_hand():
    res = ope.IPS().estimate_policy_value(R, P_LOG, P_TGT)
    # w*r = [2, 0, 0.5, 0] -> mean 0.625
    assert res.estimate == pytest.approx(0.625)
    # deviations [1.375, -.625, -.125, -.625]; sum sq 2.6875; var = 2.6875/3; se = sqrt(var/4)
    assert res.std_error == pytest.approx(math.sqrt(2.6875 / 3 / 4))
    # skewness: sum of cubed deviations 2.109375 / 2.6875^1.5 = 0.478775; Hall's interval with
    # a = 0.478775 / 3, b = a / 2: g^-1(+-z) = (cbrt(1 + 3a(+-z - b)) - 1) / a = 1.495071, -4.473380
    assert res.skewness == pytest.approx(2.109375 / 2.6875 ** 1.5, rel=1e-12)
    assert res.ci_low == pytest.approx(0.625 - 1.4950714469 * res.std_error, rel=1e-9)
    assert res.ci_high == pytest.approx(0.625 + 4.4733799136 * res.std_error, rel=1e-9)
    assert res.n == 4 and res.n_groups is None
    assert res.effective_sample_size == pytest.approx(25 / 8.5)  # (5)^2 / (4+4+.25+.25)
    assert res.max_weight == 2.0 and res.mean_weight == 1.25
    assert res.estimator == "ips" and res.clip is None
    assert math.isnan(res.unsupported_mass) and math.isnan(res.bootstrap_ci_low)


def test_clipped_ips_by_hand():
    res = ope.IPS(clip=1.0).estimate_policy_value(R, P_LOG, P_TGT)
    # w = [1, 1, .5, .5]; w*r = [1, 0, .5, 0] -> 1.5 / 4
    assert res.estimate == pytest.approx(0.375)
    assert res.estimator == "clipped_ips" and res.clip == 1.0 and res.max_weight == 1.0
    assert ope.IPS(clip=float("inf")).clip is None


def test_snips_by_hand():
    res = ope.SNIPS().estimate_policy_value(R, P_LOG, P_TGT)
    # sum w r = 2.5, sum w = 5 -> 0.5
    assert res.estimate == pytest.approx(0.5)
    # influence w (r - .5) / mean(w) = [.8, -.8, .2, -.2]; sum sq 1.36
    assert res.std_error == pytest.approx(math.sqrt(4 / 3 * 1.36) / 4)


def test_replay_by_hand():
    res = ope.Replay().estimate_policy_value(
        [1.0, 0.0, 0.0, 1.0], logged_action=["a", "b", "c", "b"], target_action=["a", "c", "c", "b"]
    )
    # matched rounds 0, 2, 3 with rewards 1, 0, 1 -> 2/3
    assert res.estimate == pytest.approx(2 / 3)
    # influence m (r - 2/3) / (3/4) = [4/9, 0, -8/9, 4/9]
    psi = np.array([4 / 9, 0, -8 / 9, 4 / 9])
    assert res.std_error == pytest.approx(math.sqrt(4 / 3 * (psi**2).sum()) / 4)
    assert res.effective_sample_size == pytest.approx(3.0)  # matched rounds


def test_replay_no_match_is_nan():
    res = ope.Replay().estimate_policy_value([1.0, 0.0], logged_action=[0, 1], target_action=[1, 0])
    assert math.isnan(res.estimate) and math.isnan(res.std_error)
    assert res.effective_sample_size == 0.0


def test_dm_by_hand():
    res = ope.DirectMethod().estimate_policy_value(q_hat_target=Q_TGT)
    assert res.estimate == pytest.approx(0.5)
    # deviations +-0.1 -> var = 0.04/3; se = sqrt(var/4)
    assert res.std_error == pytest.approx(math.sqrt(0.04 / 3 / 4))
    assert math.isnan(res.effective_sample_size)


def test_dr_by_hand():
    res = ope.DoublyRobust().estimate_policy_value(R, P_LOG, P_TGT, Q_LOG, Q_TGT)
    # q_t + w (r - q_l) = [.6 + 1, .4 - 1, .6 + .25, .4 - .1] = [1.6, -.6, .85, .3] -> 2.15 / 4
    assert res.estimate == pytest.approx(0.5375)
    c = np.array([1.6, -0.6, 0.85, 0.3])
    assert res.std_error == pytest.approx(c.std(ddof=1) / 2)


def test_sndr_by_hand():
    res = ope.SNDR().estimate_policy_value(R, P_LOG, P_TGT, Q_LOG, Q_TGT)
    # mean q_t = .5; w (r - q_l) = [1, -1, .25, -.1] sums to .15; sum w = 5 -> .5 + .03
    assert res.estimate == pytest.approx(0.53)
    # influence (q_t - .5) + w (r - q_l - .03) / 1.25
    psi = np.array([0.1, -0.1, 0.1, -0.1]) + np.array([2 * 0.47, 2 * -0.53, 0.5 * 0.47, 0.5 * -0.23]) / 1.25
    assert res.std_error == pytest.approx(math.sqrt(4 / 3 * (psi**2).sum()) / 4)


def test_dr_with_perfect_model_and_ips_agree_when_model_zero():
    # q_hat = 0 everywhere: DR reduces to IPS
    dr = ope.DoublyRobust().estimate_policy_value(R, P_LOG, P_TGT, [0] * 4, [0] * 4)
    ips = ope.IPS().estimate_policy_value(R, P_LOG, P_TGT)
    assert dr.estimate == pytest.approx(ips.estimate) and dr.std_error == pytest.approx(ips.std_error)


# two lists of two slots: A = (r=1, pl=.5, pt=1), (r=0, pl=.25, pt=0);
#                         B = (r=1, pl=.2, pt=.1), (r=1, pl=1, pt=.5)
RANK_R = [1.0, 0.0, 1.0, 1.0]
RANK_PL = [0.5, 0.25, 0.2, 1.0]
RANK_PT = [1.0, 0.0, 0.1, 0.5]
LISTS = ["A", "A", "B", "B"]


def test_item_position_ips_by_hand():
    res = ope.ItemPositionIPS().estimate_policy_value(RANK_R, RANK_PL, RANK_PT, group_ids=LISTS)
    # per list: A = 2*1 + 0 = 2, B = .5 + .5 = 1 -> mean 1.5; se = sd([2, 1]) / sqrt(2) = .5
    assert res.estimate == pytest.approx(1.5)
    assert res.std_error == pytest.approx(0.5)
    assert res.n == 4 and res.n_groups == 2


def test_pbm_ips_by_hand():
    # examination (1, .5); per-position probabilities of each slot's item
    pl = [[0.5, 0.25], [0.25, 0.5], [0.2, 0.4], [0.6, 0.4]]
    pt = [[1.0, 0.0], [0.0, 0.0], [0.1, 0.0], [0.0, 1.0]]
    res = ope.PositionBasedIPS(examination=[1.0, 0.5]).estimate_policy_value(RANK_R, pl, pt, group_ids=LISTS)
    # weighted pl = [.625, .5, .4, .8]; pt = [1, 0, .1, .5]; w = [1.6, 0, .25, .625]
    # list A = 1.6, list B = .25 + .625 = .875 -> mean 1.2375, se = |1.6 - .875| / 2
    assert res.estimate == pytest.approx(1.2375)
    assert res.std_error == pytest.approx(0.3625)
    one_d = ope.PositionBasedIPS().estimate_policy_value(
        RANK_R, [0.625, 0.5, 0.4, 0.8], [1, 0, 0.1, 0.5], group_ids=LISTS
    )
    assert one_d.estimate == pytest.approx(1.2375)


def test_diagnostics_by_hand():
    assert ope.effective_sample_size([2, 2, 0.5, 0.5]) == pytest.approx(25 / 8.5)
    assert ope.effective_sample_size([1, 1, 1]) == pytest.approx(3.0)
    assert ope.effective_sample_size([0, 0]) == 0.0
    w = ope.importance_weights(P_LOG, P_TGT, clip=1.5)
    np.testing.assert_allclose(w, [1.5, 1.5, 0.5, 0.5])
    pi = [[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]]
    mu = [[0.5, 0.0, 0.5], [0.4, 0.6, 0.0]]
    np.testing.assert_allclose(ope.unsupported_mass(pi, mu), [0.5, 0.5])
    gaps = ope.support_gaps(pi, mu)
    assert gaps["unsupported_mass"] == pytest.approx(0.5)
    assert gaps["unsupported_actions"] == (1, 2) and gaps["share_rounds_with_gap"] == 1.0
    res = ope.IPS().estimate_policy_value(R[:2], P_LOG[:2], P_TGT[:2], unsupported_mass=ope.unsupported_mass(pi, mu))
    assert res.unsupported_mass == pytest.approx(0.5)


def test_to_dict_and_frozen():
    res = ope.SNIPS().estimate_policy_value(R, P_LOG, P_TGT)
    d = res.to_dict()
    assert d["estimator"] == "snips" and d["n"] == 4 and set(d) >= {
        "estimate", "std_error", "ci_low", "ci_high", "bootstrap_ci_low", "bootstrap_ci_high",
        "effective_sample_size", "max_weight", "mean_weight", "unsupported_mass", "clip",
    }
    with pytest.raises(Exception):
        res.estimate = 1.0  # type: ignore[misc]


def test_clustered_se_by_hand():
    # IPS contributions [2, 0, .5, 0], clusters {0,1} and {2,3}: cluster sums of (c - .625)
    # = [.75, -.75]; se = sqrt(2/1 * (.5625 * 2)) / 4
    res = ope.IPS().estimate_policy_value(R, P_LOG, P_TGT, group_ids=[7, 7, 9, 9])
    assert res.std_error == pytest.approx(math.sqrt(2 * 1.125) / 4)
    assert res.n_groups == 2 and res.n == 4


def test_inputs_accept_pandas_and_arrow():
    import pandas as pd
    import pyarrow as pa

    a = ope.IPS().estimate_policy_value(pd.Series(R), pa.array(P_LOG), np.array(P_TGT))
    assert a.estimate == pytest.approx(0.625)
