"""Cross-fitted reward model."""
import numpy as np
import pytest

from receval import ope
from receval.ope.synthetic import make_bandit


def test_logistic_cross_fit_shapes_and_accuracy():
    b = make_bandit(3000, random_state=12)
    q = ope.RewardModel(n_folds=3).fit_predict(b.features, b.action, b.reward, b.n_actions)
    assert q.shape == (3000, b.n_actions) and ((q > 0) & (q < 1)).all()
    truth = b.q[b.context]
    assert np.abs(q - truth).mean() < 0.08


def test_cross_fitting_uses_out_of_fold_predictions():
    # pure-noise rewards: an in-sample fit would track them, an out-of-fold one cannot
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 30))
    a = rng.integers(0, 2, 400)
    r = rng.normal(size=400)
    q = ope.RewardModel("ridge", n_folds=4, model_params={"alpha": 1e-6}).fit_predict(x, a, r, 2)
    corr = np.corrcoef(q[np.arange(400), a], r)[0, 1]
    assert corr < 0.2


def test_gbm_and_groups():
    b = make_bandit(800, random_state=13)
    q = ope.RewardModel("gbm", n_folds=2, model_params={"max_iter": 20}).fit_predict(
        b.features, b.action, b.reward, b.n_actions, group_ids=b.context
    )
    assert q.shape == (800, b.n_actions) and np.isfinite(q).all()


def test_reward_model_input_errors():
    with pytest.raises(ValueError, match="logged_action"):
        ope.RewardModel().fit_predict(np.zeros((10, 2)), np.full(10, 3), np.zeros(10), 2)
    with pytest.raises(ValueError, match="logistic"):
        ope.RewardModel("logistic").fit_predict(np.zeros((10, 2)), np.zeros(10, int), np.full(10, 2.5), 2)
    with pytest.raises(ValueError, match="same length"):
        ope.RewardModel().fit_predict(np.zeros((10, 2)), np.zeros(9, int), np.zeros(10), 2)


def test_null_group_ids_rejected():
    with pytest.raises(ValueError, match="group_ids.*null"):
        ope.IPS().estimate_policy_value([1, 0], [0.5, 0.5], [1, 1], group_ids=np.array(["u1", None], dtype=object))
