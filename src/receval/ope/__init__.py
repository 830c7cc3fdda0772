"""Off-policy evaluation (OPE): the value of a target policy from logged data.

Estimators follow Open Bandit Pipeline's shape: hyperparameters are validated when the
estimator is built, data go to ``estimate_policy_value``, and the result
(:class:`OPEEstimate`) carries the point estimate with its standard error, its analytic
(and optionally bootstrap) interval, the sample size and the weight diagnostics.

==================================  ===========================================
:class:`Replay`                     Li et al. (2011), uniform exploration slice
:class:`IPS`                        Horvitz-Thompson; clipped (Strehl et al. 2010)
:class:`SNIPS`                      Swaminathan & Joachims (2015)
:class:`DirectMethod`               reward model plug-in (+ :class:`RewardModel`)
:class:`DoublyRobust`               Dudík et al. (2011)
:class:`SelfNormalizedDoublyRobust` self-normalised DR
:class:`ItemPositionIPS`            ranked lists, item-position click model
:class:`PositionBasedIPS`           ranked lists, position-based click model
==================================  ===========================================

See docs/ope.md for the formulas, assumptions and what the intervals mean.
"""
from receval.ope.bootstrap import bootstrap_ci, bootstrap_replicates
from receval.ope.diagnostics import (
    effective_sample_size,
    importance_weights,
    support_gaps,
    unsupported_mass,
    weight_summary,
)
from receval.ope.direct import DirectMethod, RewardModel, q_hat_inputs
from receval.ope.doubly_robust import DoublyRobust, SelfNormalizedDoublyRobust
from receval.ope.ips import IPS, SNIPS
from receval.ope.ranking import ItemPositionIPS, PositionBasedIPS, pbm_propensity
from receval.ope.replay import Replay
from receval.ope.results import OPEEstimate
from receval.ope import synthetic  # noqa: E402  (test/benchmark data generators)
from receval.ope import target_policies  # noqa: E402  (top-K / Plackett-Luce position marginals)

SNDR = SelfNormalizedDoublyRobust

__all__ = [
    "IPS",
    "SNDR",
    "SNIPS",
    "DirectMethod",
    "DoublyRobust",
    "ItemPositionIPS",
    "OPEEstimate",
    "PositionBasedIPS",
    "Replay",
    "RewardModel",
    "SelfNormalizedDoublyRobust",
    "bootstrap_ci",
    "bootstrap_replicates",
    "effective_sample_size",
    "importance_weights",
    "pbm_propensity",
    "q_hat_inputs",
    "support_gaps",
    "unsupported_mass",
    "weight_summary",
]
