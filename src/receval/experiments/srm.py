"""Sample-ratio-mismatch (SRM) check against the registry's expected split."""
from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from scipy import stats

from receval import _validation as v
from receval.experiments._common import critical
from receval.experiments.results import SRMResult


class SampleRatioMismatch:
    r"""Pearson chi-square goodness-of-fit test of the observed assignment counts.

    With :math:`k` variants, observed counts :math:`O_j`, total :math:`N` and registry
    shares :math:`\pi_j` (normalised to sum to 1), :math:`E_j = N \pi_j` and

    .. math::

        \chi^2 = \sum_j \frac{(O_j - E_j)^2}{E_j} \sim \chi^2_{k-1}
        \text{ under correct randomisation.}

    A mismatch is flagged when :math:`p < ` ``threshold`` (0.001 by default, as Fabijan et
    al. recommend: the check runs on every experiment, so it must rarely fire by chance).
    An SRM invalidates the experiment's results: something between assignment and logging
    dropped or duplicated users non-randomly.

    Parameters
    ----------
    threshold : float, default 0.001
        p-value below which a sample ratio mismatch is reported, in (0, 1).

    References
    ----------
    Fabijan, A., Gupchup, J., Gupta, S., Omhover, J., Qin, W., Vermeer, L., Dmitriev, P.
    (2019). Diagnosing Sample Ratio Mismatch in Online Controlled Experiments: A Taxonomy
    and Rules of Thumb for Practitioners. KDD 2019.
    """

    def __init__(self, threshold: float = 0.001) -> None:
        self.threshold = v.check_alpha(threshold, "threshold")

    def __repr__(self) -> str:
        return f"SampleRatioMismatch(threshold={self.threshold})"

    def test(self, observed, expected_share, variants=None) -> SRMResult:
        """Test observed assignment counts against the expected split.

        Parameters
        ----------
        observed : mapping variant -> count, or array-like of counts
            Units (users) assigned to each variant.
        expected_share : mapping variant -> weight, or array-like of weights
            The registry split: any positive weights (``{"control": 50, "treatment": 50}``
            or ``[0.2, 0.2]``); normalised to sum to 1. When both arguments are mappings
            their keys must match.
        variants : sequence of str, optional
            Names for array inputs (default ``"0", "1", ...``).
        """
        if isinstance(observed, Mapping) or isinstance(expected_share, Mapping):
            if not (isinstance(observed, Mapping) and isinstance(expected_share, Mapping)):
                raise ValueError("`observed` and `expected_share` must both be mappings or both arrays")
            if set(observed) != set(expected_share):
                raise ValueError(
                    f"variants differ: observed has {sorted(map(str, observed))}, "
                    f"expected_share has {sorted(map(str, expected_share))}"
                )
            names = tuple(str(k) for k in expected_share)
            obs = v.to_float_array([observed[k] for k in expected_share], "observed")
            share = v.to_float_array([expected_share[k] for k in expected_share], "expected_share")
        else:
            obs = v.to_float_array(observed, "observed")
            share = v.to_float_array(expected_share, "expected_share")
            if obs.size != share.size:
                raise ValueError(
                    f"`observed` has {obs.size} variants but `expected_share` has {share.size}"
                )
            names = tuple(str(x) for x in variants) if variants is not None else tuple(
                str(i) for i in range(obs.size)
            )
            if len(names) != obs.size:
                raise ValueError(f"`variants` has {len(names)} names for {obs.size} variants")
        if obs.size < 2:
            raise ValueError(f"an SRM test needs at least 2 variants, got {obs.size}")
        if np.isnan(obs).any() or (obs < 0).any() or (obs != np.round(obs)).any():
            raise ValueError(f"`observed` must be non-negative integer counts, got {obs.tolist()}")
        if np.isnan(share).any() or (share <= 0).any() or np.isinf(share).any():
            raise ValueError(f"`expected_share` must be positive and finite, got {share.tolist()}")
        n = int(obs.sum())
        if n == 0:
            raise ValueError("`observed` sums to 0: no units were assigned")
        share = share / share.sum()
        expected = n * share
        stat, p = stats.chisquare(obs, expected)
        return SRMResult(
            variants=names,
            observed=tuple(int(o) for o in obs),
            expected=tuple(float(e) for e in expected),
            expected_share=tuple(float(s) for s in share),
            statistic=float(stat),
            df=int(obs.size - 1),
            p_value=float(p),
            threshold=self.threshold,
            srm_detected=bool(p < self.threshold),
            n=n,
        )


def sample_ratio_mismatch(observed, expected_share, threshold: float = 0.001, variants=None) -> SRMResult:
    """Functional shortcut for ``SampleRatioMismatch(threshold).test(...)``."""
    return SampleRatioMismatch(threshold).test(observed, expected_share, variants)


def observed_share_intervals(observed, alpha: float = 0.05
                             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    r"""Each variant's observed share of the units, with its Wald interval.

    .. math::

        \hat p_j = \frac{O_j}{N}, \qquad \widehat{SE}_j = \sqrt{\frac{\hat p_j (1 - \hat p_j)}{N}},
        \qquad \hat p_j \mp z_{1-\alpha/2}\, \widehat{SE}_j .

    Parameters
    ----------
    observed : array-like of float
        Units (users) assigned to each variant (>= 0, positive total).
    alpha : float, default 0.05
        The intervals have coverage ``1 - alpha``.

    Returns
    -------
    (share, std_error, ci_low, ci_high) : numpy arrays, one value per variant
    """
    alpha = v.check_alpha(alpha)
    obs = v.check_finite(observed, "observed", nonnegative=True)
    n = obs.sum()
    if n <= 0:
        raise ValueError("`observed` sums to 0: no unit to share out")
    share = obs / n
    se = np.sqrt(share * (1 - share) / n)
    z = critical(alpha, math.inf)
    return share, se, share - z * se, share + z * se
