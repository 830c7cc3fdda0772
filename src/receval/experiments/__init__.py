"""Online-experimentation statistics: A/B effects, CUPED, ratio metrics, SRM, guardrails,
multiple testing, always-valid sequential tests, decisions, interleaving, bandits and
shadow comparisons.

Estimators follow Open Bandit Pipeline's style: hyperparameters (alpha, margins, ...) are
validated on construction, data are passed to ``estimate_*`` / ``test`` / ``analyze`` /
``allocate_*`` methods, and every result is a frozen dataclass carrying the estimate, its
standard error or interval, and the sample sizes. Formulas and references: docs/experiments.md.
"""
from receval.experiments.bandit import ThompsonSampling
from receval.experiments.cuped import CUPED
from receval.experiments.decision import DECISIONS, DecisionRule
from receval.experiments.guardrails import MeanNonInferiority, QuantileNonInferiority
from receval.experiments.interleaving import (
    InterleavingAnalysis,
    balanced_credit,
    balanced_interleave,
    team_draft_credit,
    team_draft_interleave,
)
from receval.experiments.means import DifferenceInMeans, difference_in_means
from receval.experiments.multiple import BenjaminiHochberg, benjamini_hochberg
from receval.experiments.ratio import RatioMetric, ratio_and_variance
from receval.experiments.results import (
    BanditAllocation,
    CupedEstimate,
    Decision,
    EffectEstimate,
    Interleaving,
    InterleavingResult,
    MultipleTestingResult,
    NonInferiorityResult,
    SequentialResult,
    ShadowStatistic,
    SRMResult,
)
from receval.experiments.sequential import MixtureSPRT
from receval.experiments.shadow import ShadowComparison, fisher_z_interval
from receval.experiments.srm import SampleRatioMismatch, observed_share_intervals, sample_ratio_mismatch

__all__ = [
    "BanditAllocation", "BenjaminiHochberg", "CUPED", "CupedEstimate", "DECISIONS", "Decision",
    "DecisionRule", "DifferenceInMeans", "EffectEstimate", "Interleaving", "InterleavingAnalysis",
    "InterleavingResult", "MeanNonInferiority", "MixtureSPRT", "MultipleTestingResult",
    "NonInferiorityResult", "QuantileNonInferiority", "RatioMetric", "SRMResult",
    "SampleRatioMismatch", "SequentialResult", "ShadowComparison", "ShadowStatistic",
    "ThompsonSampling", "balanced_credit", "balanced_interleave", "benjamini_hochberg",
    "difference_in_means", "fisher_z_interval", "observed_share_intervals", "ratio_and_variance",
    "sample_ratio_mismatch", "team_draft_credit", "team_draft_interleave",
]
