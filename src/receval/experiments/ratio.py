"""Ratio metrics (e.g. CTR = clicks / impressions) with delta-method variances."""
from __future__ import annotations

import numpy as np

from receval import _validation as v
from receval.experiments._common import build_estimate, welch_df
from receval.experiments.results import EffectEstimate


def check_ratio_arm(numerator, denominator, arm: str) -> tuple[np.ndarray, np.ndarray]:
    """Validated per-user numerator and denominator arrays of one arm."""
    x = v.check_finite(numerator, f"{arm}_numerator", min_size=2)
    y = v.check_finite(denominator, f"{arm}_denominator", min_size=2, nonnegative=True)
    v.check_lengths(**{f"{arm}_numerator": x, f"{arm}_denominator": y})
    if y.sum() <= 0:
        raise ValueError(
            f"`{arm}_denominator` sums to 0: the ratio is undefined (no user in the "
            f"{arm} arm has any denominator events)"
        )
    return x, y


def ratio_linearization(numerator: np.ndarray, denominator: np.ndarray) -> tuple[float, np.ndarray]:
    r"""Ratio of means and its per-user linearisation (influence values).

    :math:`R = \bar x / \bar y` and :math:`l_i = (x_i - R\, y_i) / \bar y`, so that
    :math:`R - R_0 \approx \bar l` to first order and
    :math:`\widehat{Var}(R) = s_l^2 / n` (the delta method).
    """
    ybar = float(denominator.mean())
    r = float(numerator.mean()) / ybar
    return r, (numerator - r * denominator) / ybar


def ratio_and_variance(numerator, denominator) -> tuple[float, float, int]:
    r"""Ratio of means of one arm with its delta-method variance.

    .. math::

        \widehat{Var}\!\left(\frac{\bar x}{\bar y}\right) = \frac{1}{n}\left(
            \frac{s_x^2}{\bar y^2} - 2\frac{\bar x\, s_{xy}}{\bar y^3}
            + \frac{\bar x^2 s_y^2}{\bar y^4}\right)

    (sample moments with ``ddof = 1``), Deng, Knoblich & Lu (2018), eq. (2).

    Returns
    -------
    (ratio, variance, n)
    """
    x, y = check_ratio_arm(numerator, denominator, "arm")
    r, lin = ratio_linearization(x, y)
    return r, float(np.var(lin, ddof=1) / x.size), int(x.size)


class RatioMetric:
    r"""Treatment effect on a ratio metric whose randomisation unit is the user.

    A metric such as CTR = total clicks / total impressions is a ratio of two per-user
    means, :math:`R = \bar x / \bar y`. Its observations (impressions) are not independent
    — they are clustered within users — so the variance is computed at the user level by
    the delta method:

    .. math::

        \widehat{Var}(R) = \frac{1}{n\,\bar y^2}\left(s_x^2 - 2R\,s_{xy} + R^2 s_y^2\right),

    the effect :math:`R_T - R_C` gets :math:`SE = \sqrt{Var(R_T) + Var(R_C)}` and a t
    interval with the Welch-Satterthwaite df of the linearised values (each arm's variance a
    sample variance of :math:`n_a` influence values: a normal interval on large arms, and on
    a few dozen users the t's wider tails, which the normal would miss), and the relative
    effect :math:`R_T/R_C - 1` a second delta-method step.

    Parameters
    ----------
    alpha : float, default 0.05
        Significance level in (0, 1).

    References
    ----------
    Deng, A., Knoblich, U., Lu, J. (2018). Applying the Delta Method in Metric Analytics:
    A Practical Guide with Novel Ideas. KDD 2018.
    """

    def __init__(self, alpha: float = 0.05) -> None:
        self.alpha = v.check_alpha(alpha)

    def __repr__(self) -> str:
        return f"RatioMetric(alpha={self.alpha})"

    def estimate_effect(
        self,
        control_numerator,
        control_denominator,
        treatment_numerator,
        treatment_denominator,
        metric: str = "ratio",
    ) -> EffectEstimate:
        """Estimate the effect on a ratio metric from per-user numerators and denominators.

        Parameters
        ----------
        control_numerator, control_denominator : array-like of float
            Per-user numerator (e.g. clicks) and denominator (e.g. impressions) in control.
            Denominators must be >= 0 with a positive sum; users with a zero denominator
            are kept (they count in ``n``).
        treatment_numerator, treatment_denominator : array-like of float
            The same for treatment.
        metric : str
            Label carried into the result.
        """
        xc, yc = check_ratio_arm(control_numerator, control_denominator, "control")
        xt, yt = check_ratio_arm(treatment_numerator, treatment_denominator, "treatment")
        rc, lc = ratio_linearization(xc, yc)
        rt, lt = ratio_linearization(xt, yt)
        var_c, var_t = float(np.var(lc, ddof=1) / xc.size), float(np.var(lt, ddof=1) / xt.size)
        return build_estimate(
            metric=metric,
            method="delta_method_ratio",
            mean_c=rc,
            mean_t=rt,
            var_c=var_c,
            var_t=var_t,
            n_c=xc.size,
            n_t=xt.size,
            alpha=self.alpha,
            df=welch_df(var_c, var_t, xc.size - 1, xt.size - 1),
        )
