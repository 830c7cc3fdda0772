"""Small frozen result dataclasses returned by the experiment estimators.

Every estimate carries its uncertainty (standard error and confidence interval) and its
sample sizes, per convention 9 of the design. ``to_dict()`` gives a flat mapping that a dbt
Python model can turn into one Arrow row.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


class _AsDict:
    def to_dict(self) -> dict[str, Any]:
        """Flat ``{field: value}`` mapping (tuples are kept as tuples)."""
        return asdict(self)  # type: ignore[call-overload]


@dataclass(frozen=True)
class EffectEstimate(_AsDict):
    """Treatment-versus-control comparison of one metric.

    Attributes
    ----------
    metric : str
        Name of the metric (free text, for reporting).
    method : str
        Estimator used (``"welch"``, ``"delta_method_ratio"``, ``"cuped_mean"``, ...).
    control_mean, treatment_mean : float
        Metric value in each arm (a mean, or a ratio of means for ratio metrics).
    effect : float
        Absolute effect ``treatment_mean - control_mean``.
    relative_effect : float
        ``treatment_mean / control_mean - 1`` (NaN when the control value is 0).
    std_error : float
        Standard error of ``effect``.
    ci_low, ci_high : float
        Two-sided ``1 - alpha`` confidence interval of ``effect``.
    relative_std_error, relative_ci_low, relative_ci_high : float
        Delta-method standard error and interval of ``relative_effect``.
    p_value : float
        Two-sided p-value of H0: ``effect == 0``.
    n_control, n_treatment : int
        Number of randomisation units (users) in each arm.
    alpha : float
        Significance level the intervals were built with.
    df : float
        Degrees of freedom of the reference distribution (``inf`` for a normal one).
    """

    metric: str
    method: str
    control_mean: float
    treatment_mean: float
    effect: float
    relative_effect: float
    std_error: float
    ci_low: float
    ci_high: float
    relative_std_error: float
    relative_ci_low: float
    relative_ci_high: float
    p_value: float
    n_control: int
    n_treatment: int
    alpha: float
    df: float

    @property
    def significant(self) -> bool:
        """``p_value < alpha``."""
        return bool(self.p_value < self.alpha)


@dataclass(frozen=True)
class CupedEstimate(EffectEstimate):
    """An :class:`EffectEstimate` after CUPED adjustment.

    Additional attributes
    ---------------------
    theta : tuple of float
        Adjustment coefficient(s): one per covariate column (the pre-period metric, and the
        no-pre-period indicator when some users lack pre-period activity).
    variance_reduction : float
        ``1 - std_error**2 / unadjusted_std_error**2``: the share of the variance of the
        effect estimate removed by the adjustment (estimated on the same data).
    unadjusted_effect, unadjusted_std_error : float
        The plain (Welch or delta-method) estimate on the same users, for comparison.
    n_without_pre_period : int
        Users (both arms) who had no pre-period activity.

    The ``control_mean`` / ``treatment_mean`` fields hold the *adjusted* arm values.
    """

    theta: tuple[float, ...] = ()
    variance_reduction: float = float("nan")
    unadjusted_effect: float = float("nan")
    unadjusted_std_error: float = float("nan")
    n_without_pre_period: int = 0


@dataclass(frozen=True)
class SRMResult(_AsDict):
    """Sample-ratio-mismatch chi-square test.

    Attributes
    ----------
    variants : tuple of str
    observed : tuple of int
        Units assigned to each variant.
    expected : tuple of float
        Units each variant should have under the registry split.
    expected_share : tuple of float
        The registry split, normalised to sum to 1.
    statistic : float
        Pearson chi-square statistic.
    df : int
        ``len(variants) - 1``.
    p_value : float
    threshold : float
        p-value below which a mismatch is flagged (0.001 by default).
    srm_detected : bool
        ``p_value < threshold``.
    n : int
        Total units.
    """

    variants: tuple[str, ...]
    observed: tuple[int, ...]
    expected: tuple[float, ...]
    expected_share: tuple[float, ...]
    statistic: float
    df: int
    p_value: float
    threshold: float
    srm_detected: bool
    n: int


@dataclass(frozen=True)
class NonInferiorityResult(_AsDict):
    """One-sided non-inferiority test of a guardrail metric.

    ``effect`` is ``treatment_value - control_value`` (or the relative change when the
    margin is relative). With ``lower_is_better`` the hypotheses are
    H0: effect >= margin (treatment is worse by at least the margin) versus
    H1: effect < margin; ``ci_low``/``ci_high`` is the two-sided ``1 - 2 alpha`` interval,
    whose upper end is the one-sided ``1 - alpha`` bound compared with the margin.
    """

    metric: str
    method: str
    control_value: float
    treatment_value: float
    effect: float
    std_error: float
    ci_low: float
    ci_high: float
    margin: float
    relative_margin: bool
    lower_is_better: bool
    p_value: float
    non_inferior: bool
    n_control: int
    n_treatment: int
    alpha: float

    @property
    def passed(self) -> bool:
        return self.non_inferior


@dataclass(frozen=True)
class MultipleTestingResult(_AsDict):
    """Benjamini-Hochberg adjustment of a family of p-values (input order kept)."""

    p_values: tuple[float, ...]
    adjusted_p_values: tuple[float, ...]
    rejected: tuple[bool, ...]
    alpha: float
    n_tests: int
    n_rejected: int
    labels: tuple[str, ...] | None = None


@dataclass(frozen=True)
class SequentialResult(_AsDict):
    """mSPRT (normal mixture) at one or more looks.

    Per-look tuples are aligned: element ``k`` describes the data up to look ``k``.
    ``p_value`` is the always-valid p-value (running minimum of ``1 / likelihood_ratio``)
    and ``[cs_low, cs_high]`` the running intersection of the confidence sequence; both
    stay valid however often the experiment is looked at.
    """

    n_control: tuple[int, ...]
    n_treatment: tuple[int, ...]
    effect: tuple[float, ...]
    std_error: tuple[float, ...]
    likelihood_ratio: tuple[float, ...]
    p_value: tuple[float, ...]
    cs_low: tuple[float, ...]
    cs_high: tuple[float, ...]
    rejected: bool
    first_rejection_look: int | None
    alpha: float
    mixing_variance: float
    null_effect: float

    @property
    def final_p_value(self) -> float:
        return self.p_value[-1]


@dataclass(frozen=True)
class Decision(_AsDict):
    """One decision per experiment: ``ship``, ``dont_ship``, ``inconclusive``, ``continue``
    (not significant yet, still running) or ``invalid``."""

    experiment_id: str
    decision: str
    reason: str
    primary_metric: str
    effect: float
    ci_low: float
    ci_high: float
    p_value: float
    srm_p_value: float | None
    failed_guardrails: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Interleaving(_AsDict):
    """An interleaved list: ``items[i]`` was contributed by ``teams[i]`` ("A" or "B").

    For balanced interleaving ``teams`` records which ranking's pointer placed the item
    (credit is *not* assigned by team there; see :func:`balanced_credit`).
    """

    items: tuple[Any, ...]
    teams: tuple[str, ...]
    method: str


@dataclass(frozen=True)
class InterleavingResult(_AsDict):
    """Analysis of interleaved requests (A = ``ranker_a``, B = ``ranker_b``).

    ``preference`` is Chapelle et al.'s Delta_AB over requests with at least one click:
    ``(wins + ties / 2) / (wins + ties + losses) - 0.5``; positive favours A. Its interval is
    a user-level (cluster) bootstrap percentile interval. The sign test is on users: a user
    prefers A when A earned more of that user's clicks than B.
    """

    n_requests: int
    n_requests_with_clicks: int
    wins: int
    ties: int
    losses: int
    preference: float
    std_error: float
    ci_low: float
    ci_high: float
    n_users: int
    user_wins: int
    user_ties: int
    user_losses: int
    user_preference: float
    p_value: float
    alpha: float
    n_bootstrap: int


@dataclass(frozen=True)
class BanditAllocation(_AsDict):
    """Thompson-sampling allocation over arms.

    ``posterior`` holds one ``{parameter: value}`` mapping per arm (``alpha``/``beta`` for
    Beta posteriors, ``mean``/``sd`` for Normal ones), with its standard deviation
    ``posterior_sd`` and the equal-tailed ``1 - alpha`` credible interval
    ``[credible_low, credible_high]``. ``prob_best_std_error`` is the Monte Carlo standard
    error ``sqrt(p (1 - p) / n_samples)``.
    """

    arms: tuple[str, ...]
    family: str
    posterior: tuple[dict[str, float], ...]
    posterior_mean: tuple[float, ...]
    prob_best: tuple[float, ...]
    prob_best_std_error: tuple[float, ...]
    allocation: tuple[float, ...]
    min_share: float
    n_samples: int
    n: tuple[float, ...]
    posterior_sd: tuple[float, ...] = ()
    credible_low: tuple[float, ...] = ()
    credible_high: tuple[float, ...] = ()
    alpha: float = 0.05


@dataclass(frozen=True)
class ShadowStatistic(_AsDict):
    """One statistic of a shadow comparison (:class:`receval.experiments.ShadowComparison`).

    ``difference`` is challenger minus production, or the statistic itself for the paired
    statistics (correlations, overlap), where ``production_value`` / ``challenger_value``
    are ``None``; ``[ci_low, ci_high]`` is its two-sided ``1 - alpha`` interval; ``n``
    counts the ``unit`` (``"item"`` or ``"request"``) behind it.
    """

    statistic: str
    production_value: float | None
    challenger_value: float | None
    difference: float
    std_error: float
    ci_low: float
    ci_high: float
    n: int
    unit: str
    alpha: float
