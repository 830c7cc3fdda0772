"""Input checks: errors name the offending argument."""
import numpy as np
import pytest

from receval import ope

R, PL, PT = [1.0, 0.0, 1.0], [0.5, 0.5, 0.5], [1.0, 0.0, 0.5]


@pytest.mark.parametrize("bad", [[0.5, 0.0, 0.5], [0.5, -0.1, 0.5], [0.5, 1.2, 0.5], [0.5, np.nan, 0.5]])
@pytest.mark.parametrize("est", [ope.IPS(), ope.SNIPS()])
def test_bad_propensity(est, bad):
    with pytest.raises(ValueError, match="p_log"):
        est.estimate_policy_value(R, bad, PT)


@pytest.mark.parametrize("bad", [[1.0, -0.2, 0.5], [1.0, 1.5, 0.5], [np.nan, 0.0, 0.5]])
def test_bad_target(bad):
    with pytest.raises(ValueError, match="p_target"):
        ope.IPS().estimate_policy_value(R, PL, bad)


def test_bad_reward():
    with pytest.raises(ValueError, match="reward.*NaN"):
        ope.SNIPS().estimate_policy_value([1.0, np.nan, 0.0], PL, PT)
    with pytest.raises(ValueError, match="reward"):
        ope.SNIPS().estimate_policy_value([1.0, np.inf, 0.0], PL, PT)


def test_mismatched_lengths():
    with pytest.raises(ValueError, match="same length"):
        ope.IPS().estimate_policy_value(R, PL[:2], PT)
    with pytest.raises(ValueError, match="q_hat_target"):
        ope.DoublyRobust().estimate_policy_value(R, PL, PT, [0.1] * 3, [0.1] * 2)
    with pytest.raises(ValueError, match="group_ids"):
        ope.IPS().estimate_policy_value(R, PL, PT, group_ids=[1, 2])
    with pytest.raises(ValueError, match="same length"):
        ope.Replay().estimate_policy_value(R, logged_action=[1, 2, 3], target_action=[1, 2])


def test_empty_input():
    for call in (
        lambda: ope.IPS().estimate_policy_value([], [], []),
        lambda: ope.SNIPS().estimate_policy_value([], [], []),
        lambda: ope.DirectMethod().estimate_policy_value(q_hat_target=[]),
        lambda: ope.SNDR().estimate_policy_value([], [], [], [], []),
        lambda: ope.Replay().estimate_policy_value([], logged_action=[], target_action=[]),
        lambda: ope.ItemPositionIPS().estimate_policy_value([], [], [], group_ids=[]),
    ):
        with pytest.raises(ValueError, match="empty"):
            call()


@pytest.mark.parametrize("clip", [0, -1.0, float("nan"), "3", True])
def test_clip_validated_on_construction(clip):
    for cls in (ope.IPS, ope.DoublyRobust, ope.ItemPositionIPS):
        with pytest.raises(ValueError, match="clip"):
            cls(clip=clip)


def test_hyperparameters_validated_on_construction():
    with pytest.raises(ValueError, match="alpha"):
        ope.SNIPS(alpha=1.5)
    with pytest.raises(ValueError, match="n_bootstrap"):
        ope.SNIPS(n_bootstrap=-1)
    with pytest.raises(ValueError, match="random_state"):
        ope.SNIPS(random_state="x")
    with pytest.raises(ValueError, match="examination"):
        ope.PositionBasedIPS(examination=[1.0, 0.0])
    with pytest.raises(ValueError, match="model"):
        ope.RewardModel(model="svm")
    with pytest.raises(ValueError, match="n_folds"):
        ope.RewardModel(n_folds=1)


def test_ranking_needs_groups_and_matching_propensity_shape():
    with pytest.raises(ValueError, match="group_ids"):
        ope.ItemPositionIPS().estimate_policy_value(R, PL, PT)
    with pytest.raises(ValueError, match="examination"):
        ope.PositionBasedIPS().estimate_policy_value(R, [[0.5, 0.5]] * 3, [[0.5, 0.5]] * 3, group_ids=[1, 1, 2])
    with pytest.raises(ValueError, match="p_log"):
        ope.PositionBasedIPS(examination=[1, 0.5]).estimate_policy_value(
            R, [[0.5, 0.5, 0.0]] * 3, [[0.5, 0.5]] * 3, group_ids=[1, 1, 2]
        )


def test_replay_rejects_non_uniform_logging():
    with pytest.raises(ValueError, match="uniform"):
        ope.Replay().estimate_policy_value(R, logged_action=[1, 2, 3], target_action=[1, 2, 2],
                                           p_log=[0.5, 0.25, 0.5])


def test_one_interface_names_what_an_estimator_needs_and_reads():
    with pytest.raises(ValueError, match="DoublyRobust needs `q_hat_logged`, `q_hat_target`"):
        ope.DoublyRobust().estimate_policy_value(R, PL, PT)
    with pytest.raises(ValueError, match="DirectMethod does not read `reward`, `p_log`; it reads `q_hat_target`"):
        ope.DirectMethod().estimate_policy_value(R, PL, q_hat_target=[0.1] * 3)
    with pytest.raises(ValueError, match="Replay needs `logged_action`, `target_action`"):
        ope.Replay().estimate_policy_value(R)
    with pytest.raises(ValueError, match="IPS does not read `q_hat_target`"):
        ope.IPS().estimate_policy_value(R, PL, PT, q_hat_target=[0.1] * 3)


def test_snips_all_zero_weights_is_nan():
    res = ope.SNIPS().estimate_policy_value(R, PL, [0.0, 0.0, 0.0])
    assert np.isnan(res.estimate) and res.effective_sample_size == 0.0
