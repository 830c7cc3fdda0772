r"""Direct method (regression) estimator and a cross-fitted reward model.

The direct method plugs a reward model :math:`\hat q(x, a) \approx E[r | x, a]` into the
target policy: :math:`\hat V_{\mathrm{DM}} = \frac1n \sum_i \sum_a \pi(a|x_i)\hat q(x_i,a)`.
It has low variance but is biased whenever the model is (misspecification, or the
model extrapolating to actions the logging policy rarely took). Its reward model is also
the ingredient of the doubly robust estimators (:mod:`receval.ope.doubly_robust`).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from receval import _validation as v
from receval.ope._core import BaseEstimator, mean_terms
from receval.ope.results import OPEEstimate

__all__ = ["DirectMethod", "RewardModel", "q_hat_inputs"]


class DirectMethod(BaseEstimator):
    r"""Direct method: average predicted reward of the target policy.

    .. math::

        \hat V_{\mathrm{DM}} = \frac{1}{n}\sum_{i=1}^n \hat q(x_i, \pi),
        \qquad \hat q(x_i, \pi) = \sum_a \pi(a|x_i)\, \hat q(x_i, a).

    The standard error is the sample standard deviation of :math:`\hat q(x_i,\pi)` over
    :math:`\sqrt n`: it covers the sampling of contexts only, treating the reward model as
    fixed, so it does **not** include the model's estimation error or bias. Use DM for
    comparison and as the baseline of DR; trust DR's interval, not DM's.

    Parameters
    ----------
    alpha, n_bootstrap, random_state
        As in :class:`receval.ope.IPS`. The data (:meth:`estimate_policy_value`):
        ``q_hat_target`` alone, and optionally ``group_ids``.

    References
    ----------
    Beygelzimer, A., Langford, J. (2009). The offset tree for learning with partial
    labels. KDD 2009. Dudík, M., Langford, J., Li, L. (2011). Doubly robust policy
    evaluation and learning. ICML 2011 (section 2, the direct method).
    """

    name = "dm"
    inputs = ("q_hat_target",)

    def _estimate(self, *, q_hat_target, group_ids, unsupported_mass) -> OPEEstimate:
        # no importance weights: effective_sample_size, max_weight, mean_weight are nan
        q = v.check_finite(q_hat_target, "q_hat_target")
        return self._result(mean_terms(q), n_rounds=q.size, weights=None, group_ids=group_ids,
                            unsupported_mass=unsupported_mass)


def q_hat_inputs(q_hat: Any, logged_action: Any, target_dist: Any) -> tuple[np.ndarray, np.ndarray]:
    r"""``(q_hat_logged, q_hat_target)`` from a full reward-model matrix.

    Parameters
    ----------
    q_hat : array-like, shape (n, n_actions)
        :math:`\hat q(x_i, a)` for every action.
    logged_action : array-like of int, shape (n,)
        Logged action index in ``0..n_actions-1``.
    target_dist : array-like, shape (n, n_actions)
        :math:`\pi(a|x_i)`.

    Returns
    -------
    q_hat_logged : numpy.ndarray, shape (n,)
        :math:`\hat q(x_i, a_i)`.
    q_hat_target : numpy.ndarray, shape (n,)
        :math:`\sum_a \pi(a|x_i)\hat q(x_i, a)`.
    """
    q = np.asarray(q_hat, dtype=np.float64)
    pi = np.asarray(target_dist, dtype=np.float64)
    a = np.asarray(logged_action)
    if q.ndim != 2:
        raise ValueError(f"`q_hat` must be 2-D (rounds x actions), got shape {q.shape}")
    if pi.shape != q.shape:
        raise ValueError(f"`target_dist` must have the shape of `q_hat` {q.shape}, got {pi.shape}")
    if a.shape != (q.shape[0],):
        raise ValueError(f"`logged_action` must have shape ({q.shape[0]},), got {a.shape}")
    if a.dtype.kind not in "iu" or (a < 0).any() or (a >= q.shape[1]).any():
        raise ValueError(f"`logged_action` must hold integer action indices in 0..{q.shape[1] - 1}")
    return q[np.arange(q.shape[0]), a], np.einsum("ij,ij->i", pi, q)


class RewardModel:
    r"""Cross-fitted reward model :math:`\hat q(x, a)` for DM and DR.

    The rounds are split into ``n_folds`` folds (by group when ``group_ids`` are given);
    the prediction for a round comes from a model fitted on the other folds, so that the
    model's in-sample overfitting does not leak into DR's correction term (cross-fitting,
    Chernozhukov et al. 2018).

    Models (scikit-learn):

    - ``"logistic"`` (binary rewards) / ``"ridge"`` (real rewards): linear in
      ``[x, onehot(a), x * onehot(a)]`` after standardising ``x`` -- one linear model per
      action sharing a regulariser.
    - ``"gbm"``: histogram gradient boosting on ``[x, a]`` with ``a`` categorical
      (classifier for binary rewards, regressor otherwise).
    - ``"auto"`` (default): ``"logistic"`` when every reward is 0 or 1, else ``"ridge"``.

    Parameters
    ----------
    model : {"auto", "logistic", "ridge", "gbm"}, default "auto"
    n_folds : int, default 5
        Cross-fitting folds (>= 2).
    random_state : int, default 0
        Seed of the fold split and of the boosting.
    model_params : dict, optional
        Extra keyword arguments for the scikit-learn estimator.

    References
    ----------
    Chernozhukov, V. et al. (2018). Double/debiased machine learning for treatment and
    structural parameters. The Econometrics Journal 21(1), C1-C68.
    """

    _MODELS = ("auto", "logistic", "ridge", "gbm")

    def __init__(
        self,
        model: str = "auto",
        n_folds: int = 5,
        random_state: int = 0,
        model_params: dict[str, Any] | None = None,
    ) -> None:
        if model not in self._MODELS:
            raise ValueError(f"`model` must be one of {self._MODELS}, got {model!r}")
        self.model = model
        self.n_folds = v.check_int(n_folds, "n_folds", minimum=2)
        self.random_state = v.check_int(random_state, "random_state", minimum=0)
        self.model_params = dict(model_params or {})

    def __repr__(self) -> str:
        return f"RewardModel(model={self.model!r}, n_folds={self.n_folds}, random_state={self.random_state})"

    def _design(self, x: np.ndarray, a: np.ndarray, n_actions: int, kind: str) -> np.ndarray:
        onehot = np.zeros((x.shape[0], n_actions))
        onehot[np.arange(x.shape[0]), a] = 1.0
        if kind == "gbm":
            return np.column_stack([x, a.astype(np.float64)])
        inter = (x[:, :, None] * onehot[:, None, :]).reshape(x.shape[0], -1)
        return np.column_stack([x, onehot, inter])

    def _estimator(self, kind: str, binary: bool, n_features: int):
        p = self.model_params
        if kind == "logistic":
            from sklearn.linear_model import LogisticRegression

            return LogisticRegression(**{"C": 1.0, "max_iter": 1000, **p})
        if kind == "ridge":
            from sklearn.linear_model import Ridge

            return Ridge(**{"alpha": 1.0, **p})
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        base = {"random_state": self.random_state, "categorical_features": [n_features], **p}
        return HistGradientBoostingClassifier(**base) if binary else HistGradientBoostingRegressor(**base)

    def fit_predict(
        self,
        features: Any,
        logged_action: Any,
        reward: Any,
        n_actions: int,
        *,
        group_ids: Any = None,
    ) -> np.ndarray:
        """Cross-fitted predictions :math:`\\hat q(x_i, a)` for every round and action.

        Parameters
        ----------
        features : array-like, shape (n, d)
            Context features of each logged round.
        logged_action : array-like of int, shape (n,)
            Logged action index in ``0..n_actions-1``.
        reward : array-like of float, shape (n,)
        n_actions : int
        group_ids : array-like, optional
            Keep each group in one fold.

        Returns
        -------
        numpy.ndarray, shape (n, n_actions)
        """
        from sklearn.model_selection import GroupKFold, KFold
        from sklearn.preprocessing import StandardScaler

        x = np.asarray(features, dtype=np.float64)
        if x.ndim == 1:
            x = x[:, None]
        if x.ndim != 2 or not np.isfinite(x).all():
            raise ValueError("`features` must be a finite 2-D array (rounds x features)")
        r = v.check_finite(reward, "reward")
        a = np.asarray(logged_action)
        k = v.check_int(n_actions, "n_actions", minimum=1)
        if a.dtype.kind not in "iu" or (a < 0).any() or (a >= k).any():
            raise ValueError(f"`logged_action` must hold integer action indices in 0..{k - 1}")
        v.check_lengths(features=x, logged_action=a, reward=r)
        if r.size < self.n_folds:
            raise ValueError(f"need at least n_folds={self.n_folds} rounds, got {r.size}")
        binary = bool(np.isin(r, (0.0, 1.0)).all())
        kind = self.model if self.model != "auto" else ("logistic" if binary else "ridge")
        if kind == "logistic" and not binary:
            raise ValueError("`model='logistic'` needs rewards in {0, 1}; use 'ridge' or 'gbm'")
        if group_ids is not None:
            codes, _ = v.group_codes(group_ids, n=r.size)
            splits = GroupKFold(n_splits=self.n_folds).split(x, r, codes)
        else:
            splits = KFold(self.n_folds, shuffle=True, random_state=self.random_state).split(x)
        out = np.empty((r.size, k))
        for train, test in splits:
            if kind != "gbm":
                scaler = StandardScaler().fit(x[train])
                xtr, xte = scaler.transform(x[train]), scaler.transform(x[test])
            else:
                xtr, xte = x[train], x[test]
            ytr = r[train]
            if binary and np.unique(ytr).size < 2:  # constant fold: predict the constant
                out[test] = float(ytr[0])
                continue
            est = self._estimator(kind, binary, x.shape[1]).fit(self._design(xtr, a[train], k, kind), ytr)
            for act in range(k):
                d = self._design(xte, np.full(test.size, act), k, kind)
                out[test, act] = est.predict_proba(d)[:, 1] if binary and kind != "ridge" else est.predict(d)
        return out
