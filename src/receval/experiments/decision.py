"""One decision per experiment: ship / dont_ship / inconclusive / continue / invalid, with the reason."""
from __future__ import annotations

from collections.abc import Sequence

from receval import _validation as v
from receval.experiments.results import Decision, EffectEstimate, NonInferiorityResult, SRMResult

SHIP, DONT_SHIP, INCONCLUSIVE, INVALID = "ship", "dont_ship", "inconclusive", "invalid"
CONTINUE = "continue"
DECISIONS = (SHIP, DONT_SHIP, INCONCLUSIVE, CONTINUE, INVALID)


class DecisionRule:
    """Turn an experiment's statistics into one decision, checked in this order.

    1. ``invalid`` — a sample ratio mismatch was detected (the randomisation or the logging
       is broken, so no metric can be trusted; Fabijan et al. 2019).
    2. ``invalid`` — a guardrail failed: non-inferiority within its margin could not be
       established.
    3. ``dont_ship`` — the primary metric moved significantly in the wrong direction, or
       significantly in the right direction but by less than ``minimum_effect``.
    4. ``ship`` — the primary metric improved significantly (p < alpha) by at least
       ``minimum_effect``.
    5. ``inconclusive`` — otherwise (not significant at the end of the experiment: stop
       without shipping); ``continue`` instead when :meth:`decide` is told the experiment
       is still running (``is_running``: the p-value is an always-valid one and the planned
       end has not come; not significant *yet*: keep collecting data).

    The p-value must suit the moment it is read at: a fixed-horizon p-value only at the
    planned end (read daily before it, it inflates false positives: peeking), an
    always-valid one (mSPRT) at any look. Choosing it is the caller's
    (:func:`receval.experiments.marts.experiment_scorecard`).

    Parameters
    ----------
    alpha : float, default 0.05
        Level the primary p-value is compared with, in (0, 1). Pass a multiplicity-adjusted
        p-value to :meth:`decide` when several primaries or experiments are judged together.
    higher_is_better : bool, default True
        Direction of improvement of the primary metric.
    minimum_effect : float, default 0.0
        Smallest absolute improvement worth shipping (>= 0), in metric units.
    """

    def __init__(self, alpha: float = 0.05, higher_is_better: bool = True,
                 minimum_effect: float = 0.0) -> None:
        self.alpha = v.check_alpha(alpha)
        if not isinstance(higher_is_better, bool):
            raise ValueError(f"`higher_is_better` must be a bool, got {higher_is_better!r}")
        self.higher_is_better = higher_is_better
        self.minimum_effect = v.check_positive(minimum_effect, "minimum_effect", allow_zero=True)

    def __repr__(self) -> str:
        return (f"DecisionRule(alpha={self.alpha}, higher_is_better={self.higher_is_better}, "
                f"minimum_effect={self.minimum_effect})")

    def decide(
        self,
        primary: EffectEstimate,
        srm: SRMResult | None = None,
        guardrails: Sequence[NonInferiorityResult] = (),
        experiment_id: str = "experiment",
        p_value: float | None = None,
        is_running: bool = False,
    ) -> Decision:
        """Decide one experiment.

        Parameters
        ----------
        primary : EffectEstimate
            The primary metric's estimate (Welch, ratio or CUPED).
        srm : SRMResult, optional
            Sample-ratio-mismatch check of the experiment's assignment counts.
        guardrails : sequence of NonInferiorityResult
            Guardrail tests; any that is not non-inferior invalidates the experiment.
        experiment_id : str
        p_value : float, optional
            Overrides ``primary.p_value`` (e.g. a Benjamini-Hochberg adjusted one, or the
            always-valid mSPRT p-value while the experiment runs).
        is_running : bool, default False
            The experiment has not reached its planned end (and ``p_value`` is always-valid):
            a non-significant primary is ``continue``, not ``inconclusive``.
        """
        if not isinstance(primary, EffectEstimate):
            raise ValueError(f"`primary` must be an EffectEstimate, got {type(primary).__name__}")
        if srm is not None and not isinstance(srm, SRMResult):
            raise ValueError(f"`srm` must be an SRMResult or None, got {type(srm).__name__}")
        guardrails = tuple(guardrails)
        for g in guardrails:
            if not isinstance(g, NonInferiorityResult):
                raise ValueError(f"`guardrails` must hold NonInferiorityResult, got {type(g).__name__}")
        if not isinstance(is_running, bool):
            raise ValueError(f"`is_running` must be a bool, got {is_running!r}")
        p = primary.p_value if p_value is None else v.check_positive(p_value, "p_value", allow_zero=True)
        if p > 1:
            raise ValueError(f"`p_value` must be in [0, 1], got {p}")
        common = dict(
            experiment_id=str(experiment_id), primary_metric=primary.metric,
            effect=primary.effect, ci_low=primary.ci_low, ci_high=primary.ci_high,
            p_value=float(p), srm_p_value=None if srm is None else srm.p_value,
        )
        if srm is not None and srm.srm_detected:
            obs = ", ".join(f"{n}={o}" for n, o in zip(srm.variants, srm.observed))
            return Decision(decision=INVALID, reason=(
                f"sample ratio mismatch: chi2={srm.statistic:.2f}, p={srm.p_value:.2g} < "
                f"{srm.threshold} (observed {obs}; expected shares "
                f"{', '.join(f'{s:.3f}' for s in srm.expected_share)})"), **common)
        failed = tuple(g.metric for g in guardrails if not g.non_inferior)
        if failed:
            parts = [
                f"{g.metric} (effect {g.effect:.4g}, one-sided upper bound "
                f"{(g.ci_high if g.lower_is_better else -g.ci_low):.4g} vs margin {g.margin:.4g}, p={g.p_value:.2g})"
                for g in guardrails if not g.non_inferior
            ]
            return Decision(decision=INVALID, reason="guardrail failed: " + "; ".join(parts),
                            failed_guardrails=failed, **common)
        gain = primary.effect if self.higher_is_better else -primary.effect
        ci = f"[{primary.ci_low:.4g}, {primary.ci_high:.4g}]"
        if p < self.alpha:
            if gain < 0:
                return Decision(decision=DONT_SHIP, reason=(
                    f"{primary.metric} significantly worse: effect {primary.effect:.4g}, "
                    f"CI {ci}, p={p:.2g}"), **common)
            if gain < self.minimum_effect:
                return Decision(decision=DONT_SHIP, reason=(
                    f"{primary.metric} improved significantly (effect {primary.effect:.4g}, "
                    f"p={p:.2g}) but by less than the minimum effect {self.minimum_effect:.4g}"),
                    **common)
            return Decision(decision=SHIP, reason=(
                f"{primary.metric} improved significantly: effect {primary.effect:.4g} "
                f"({primary.relative_effect:+.2%}), CI {ci}, p={p:.2g}; guardrails passed"), **common)
        if is_running:
            return Decision(decision=CONTINUE, reason=(
                f"{primary.metric} not significant yet: effect {primary.effect:.4g}, CI {ci}, "
                f"p={p:.2g} >= {self.alpha}; keep collecting data"), **common)
        return Decision(decision=INCONCLUSIVE, reason=(
            f"{primary.metric} not significant: effect {primary.effect:.4g}, CI {ci}, "
            f"p={p:.2g} >= {self.alpha}"), **common)
