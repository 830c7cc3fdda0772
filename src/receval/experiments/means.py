"""Difference in means and relative lift with Welch (unequal-variance) intervals."""
from __future__ import annotations

from receval import _validation as v
from receval.experiments._common import build_estimate, sample_var, welch_df
from receval.experiments.results import EffectEstimate


class DifferenceInMeans:
    r"""Welch comparison of a per-user mean metric between two arms.

    For per-user values :math:`y` in control (C) and treatment (T),

    .. math::

        \hat\Delta = \bar y_T - \bar y_C, \qquad
        \widehat{SE} = \sqrt{s_T^2 / n_T + s_C^2 / n_C},

    with sample variances :math:`s^2` (``ddof = 1``), a Student-t reference distribution
    with Welch-Satterthwaite degrees of freedom

    .. math::

        \nu = \frac{(s_T^2/n_T + s_C^2/n_C)^2}
                   {(s_T^2/n_T)^2/(n_T-1) + (s_C^2/n_C)^2/(n_C-1)},

    and the relative lift :math:`\bar y_T/\bar y_C - 1` with the delta-method standard
    error :math:`\sqrt{s_T^2/(n_T \bar y_C^2) + \bar y_T^2 s_C^2/(n_C \bar y_C^4)}` and a
    normal interval.

    Parameters
    ----------
    alpha : float, default 0.05
        Significance level in (0, 1); intervals have coverage ``1 - alpha``.

    References
    ----------
    Welch, B. L. (1947). The generalization of "Student's" problem when several different
    population variances are involved. Biometrika 34, 28-35.
    Kohavi, R., Tang, D., Xu, Y. (2020). Trustworthy Online Controlled Experiments, ch. 17.
    """

    def __init__(self, alpha: float = 0.05) -> None:
        self.alpha = v.check_alpha(alpha)

    def __repr__(self) -> str:
        return f"DifferenceInMeans(alpha={self.alpha})"

    def estimate_effect(self, control, treatment, metric: str = "metric") -> EffectEstimate:
        """Estimate the treatment effect on a mean metric.

        Parameters
        ----------
        control, treatment : array-like of float
            One value per user (numpy, list, pandas Series or pyarrow array); at least two
            users per arm, no NaN/null.
        metric : str
            Label carried into the result.

        Returns
        -------
        EffectEstimate
        """
        c = v.check_finite(control, "control", min_size=2)
        t = v.check_finite(treatment, "treatment", min_size=2)
        nc, nt = c.size, t.size
        vc, vt = sample_var(c) / nc, sample_var(t) / nt
        return build_estimate(
            metric=metric,
            method="welch",
            mean_c=float(c.mean()),
            mean_t=float(t.mean()),
            var_c=vc,
            var_t=vt,
            n_c=nc,
            n_t=nt,
            alpha=self.alpha,
            df=welch_df(vc, vt, nc - 1, nt - 1),
        )


def difference_in_means(control, treatment, alpha: float = 0.05, metric: str = "metric") -> EffectEstimate:
    """Functional shortcut for ``DifferenceInMeans(alpha).estimate_effect(control, treatment)``."""
    return DifferenceInMeans(alpha).estimate_effect(control, treatment, metric=metric)
