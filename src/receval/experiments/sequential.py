"""Always-valid inference: the mixture sequential probability ratio test (mSPRT)."""
from __future__ import annotations

import math

import numpy as np

from receval import _validation as v
from receval.experiments.results import SequentialResult


class MixtureSPRT:
    r"""mSPRT with a normal mixture for a difference in means; safe under continuous peeking.

    At a look with :math:`n_C, n_T` users, the effect estimate
    :math:`\hat\theta = \bar y_T - \bar y_C` has variance
    :math:`V = s_T^2/n_T + s_C^2/n_C` (plug-in sample variances). Mixing the likelihood
    ratio of :math:`\theta` against :math:`\theta_0` over the prior
    :math:`\theta \sim N(\theta_0, \tau^2)` gives

    .. math::

        \Lambda = \sqrt{\frac{V}{V + \tau^2}}
        \exp\!\left(\frac{\tau^2 (\hat\theta - \theta_0)^2}{2V(V + \tau^2)}\right),

    a non-negative martingale under :math:`H_0` (for normal data with known variance), so
    by Ville's inequality :math:`P(\exists n: \Lambda_n \ge 1/\alpha) \le \alpha`. Hence the
    always-valid p-value :math:`p_n = \min(1, \min_{k \le n} 1/\Lambda_k)` and the
    confidence sequence

    .. math::

        CS_n = \bigcap_{k \le n}\left[\hat\theta_k \pm \sqrt{\frac{2V_k(V_k + \tau^2)}{\tau^2}
        \left(\log\frac{1}{\alpha} + \frac{1}{2}\log\frac{V_k + \tau^2}{V_k}\right)}\right]

    keep their type-I error / coverage however many times, and whenever, the experiment
    is looked at (daily peeking included). With plug-in variances the guarantee is
    asymptotic (large samples), as in Johari et al.

    Parameters
    ----------
    alpha : float, default 0.05
        Significance level in (0, 1).
    mixing_variance : float
        :math:`\tau^2 > 0`, in squared metric units. The test is most powerful for effects
        of size about :math:`\tau`; set it to the square of the effect you hope to detect
        (Johari et al. fit it to past experiments). Fix it before looking at the data.
    null_effect : float, default 0.0
        :math:`\theta_0`.

    References
    ----------
    Johari, R., Koomen, P., Pekelis, L., Walsh, D. (2017). Peeking at A/B Tests: Why it
    matters, and what to do about it. KDD 2017.
    Robbins, H. (1970). Statistical methods related to the law of the iterated logarithm.
    Ann. Math. Statist. 41(5), 1397-1409.
    """

    def __init__(self, mixing_variance: float, alpha: float = 0.05, null_effect: float = 0.0) -> None:
        self.alpha = v.check_alpha(alpha)
        self.mixing_variance = v.check_positive(mixing_variance, "mixing_variance")
        if isinstance(null_effect, bool) or not isinstance(null_effect, (int, float)) or not math.isfinite(null_effect):
            raise ValueError(f"`null_effect` must be a finite number, got {null_effect!r}")
        self.null_effect = float(null_effect)

    def __repr__(self) -> str:
        return (f"MixtureSPRT(mixing_variance={self.mixing_variance}, alpha={self.alpha}, "
                f"null_effect={self.null_effect})")

    # ---------------------------------------------------------------- core
    def test_summary(self, effect, std_error, n_control, n_treatment) -> SequentialResult:
        """mSPRT from per-look summaries (cumulative effect estimates and their SEs).

        Useful where the warehouse already aggregates cumulative daily statistics.

        Parameters
        ----------
        effect, std_error : array-like of float
            Cumulative effect estimate and its standard error at each look, in look order.
        n_control, n_treatment : array-like of int
            Cumulative users per arm at each look (non-decreasing).
        """
        d = v.check_finite(effect, "effect")
        se = v.check_finite(std_error, "std_error", nonnegative=True)
        nc = v.check_finite(n_control, "n_control", nonnegative=True)
        nt = v.check_finite(n_treatment, "n_treatment", nonnegative=True)
        v.check_lengths(effect=d, std_error=se, n_control=nc, n_treatment=nt)
        if (se == 0).any():
            raise ValueError("`std_error` must be > 0 at every look")
        if (np.diff(nc) < 0).any() or (np.diff(nt) < 0).any():
            raise ValueError("`n_control` and `n_treatment` must be cumulative (non-decreasing)")
        V = se**2
        tau2 = self.mixing_variance
        diff = d - self.null_effect
        log_lr = 0.5 * np.log(V / (V + tau2)) + tau2 * diff**2 / (2.0 * V * (V + tau2))
        lr = np.exp(np.minimum(log_lr, 700.0))
        p = np.minimum(1.0, np.minimum.accumulate(np.exp(-log_lr)))
        radius = np.sqrt(2.0 * V * (V + tau2) / tau2
                         * (math.log(1.0 / self.alpha) + 0.5 * np.log((V + tau2) / V)))
        lo = np.maximum.accumulate(d - radius)
        hi = np.minimum.accumulate(d + radius)
        rej = np.flatnonzero(p <= self.alpha)
        return SequentialResult(
            n_control=tuple(int(x) for x in nc), n_treatment=tuple(int(x) for x in nt),
            effect=tuple(float(x) for x in d), std_error=tuple(float(x) for x in se),
            likelihood_ratio=tuple(float(x) for x in lr), p_value=tuple(float(x) for x in p),
            cs_low=tuple(float(x) for x in lo), cs_high=tuple(float(x) for x in hi),
            rejected=bool(rej.size > 0),
            first_rejection_look=int(rej[0]) if rej.size else None,
            alpha=self.alpha, mixing_variance=self.mixing_variance,
            null_effect=self.null_effect,
        )

    # ---------------------------------------------------------------- raw data
    def test(self, control, treatment, looks=None) -> SequentialResult:
        """mSPRT on per-user values in arrival order, evaluated at each look.

        Parameters
        ----------
        control, treatment : array-like of float
            Per-user values of each arm, ordered by the time each user entered (no NaN).
        looks : None, int, or array-like of shape (k, 2)
            ``None``: one look with all data. An int ``k``: ``k`` looks, the ``j``-th with
            the first ``ceil(j/k)`` share of each arm. Otherwise cumulative
            ``(n_control, n_treatment)`` per look (e.g. users by the end of each day);
            each look needs >= 2 users per arm.
        """
        c = v.check_finite(control, "control", min_size=2)
        t = v.check_finite(treatment, "treatment", min_size=2)
        if looks is None:
            looks = 1
        if isinstance(looks, (int, np.integer)) and not isinstance(looks, bool):
            k = v.check_int(looks, "looks", minimum=1)
            frac = np.arange(1, k + 1) / k
            lc = np.ceil(frac * c.size).astype(int)
            lt = np.ceil(frac * t.size).astype(int)
        else:
            arr = np.asarray(looks)
            if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] == 0:
                raise ValueError(f"`looks` must be an int or an array of shape (k, 2), got shape {arr.shape}")
            lc, lt = arr[:, 0].astype(int), arr[:, 1].astype(int)
        if (lc < 2).any() or (lt < 2).any():
            raise ValueError("every look needs at least 2 users in each arm")
        if (lc > c.size).any() or (lt > t.size).any():
            raise ValueError(
                f"`looks` asks for more users than exist ({c.size} control, {t.size} treatment)"
            )
        if (np.diff(lc) < 0).any() or (np.diff(lt) < 0).any():
            raise ValueError("`looks` must be cumulative (non-decreasing) counts")

        def moments(x, idx):
            s1 = np.cumsum(x)[idx - 1]
            s2 = np.cumsum((x - x[0]) ** 2)[idx - 1]  # shifted for numerical stability
            s1s = np.cumsum(x - x[0])[idx - 1]
            mean = s1 / idx
            var = (s2 - s1s**2 / idx) / (idx - 1)
            return mean, np.maximum(var, 0.0)

        mc, vc = moments(c, lc)
        mt, vt = moments(t, lt)
        se = np.sqrt(vc / lc + vt / lt)
        if (se == 0).any():
            raise ValueError("both arms are constant at some look: the standard error is 0")
        return self.test_summary(mt - mc, se, lc, lt)
