"""Thompson-sampling traffic allocation with Beta-Bernoulli and Normal posteriors."""
from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from scipy import stats

from receval import _validation as v
from receval.experiments._common import sample_var, z_critical
from receval.experiments.results import BanditAllocation


class ThompsonSampling:
    r"""Posterior probability that each arm is best, and the traffic allocation it implies.

    Binary rewards (click, purchase): with prior :math:`Beta(\alpha_0, \beta_0)` and
    :math:`s_k` successes in :math:`n_k` trials, arm :math:`k`'s posterior is
    :math:`Beta(\alpha_0 + s_k,\ \beta_0 + n_k - s_k)`.

    Continuous rewards (revenue per user): with prior :math:`N(m_0, v_0)` on the arm mean
    and the sample variance :math:`s_k^2` plugged in for the data variance,
    :math:`v_k = (1/v_0 + n_k/s_k^2)^{-1}` and
    :math:`m_k = v_k (m_0/v_0 + n_k \bar y_k / s_k^2)`; with the default flat prior
    (:math:`v_0 = \infty`) this is :math:`N(\bar y_k, s_k^2/n_k)`.

    :math:`P(k \text{ is best})` is estimated from ``n_samples`` joint posterior draws
    (Monte Carlo SE :math:`\sqrt{p(1-p)/n_{samples}}`), and the recommended allocation is

    .. math::

        w_k = m + (1 - K m)\, P(k \text{ is best}),

    which sums to 1 and gives every arm at least the minimum share :math:`m` (so each arm
    keeps being measured and its estimate stays unbiased enough to analyse).

    Each arm's posterior comes with its standard deviation and its equal-tailed
    :math:`1-\alpha` credible interval: the :math:`\alpha/2` and :math:`1-\alpha/2`
    quantiles of the Beta posterior, or :math:`m_k \mp z_{1-\alpha/2}\sqrt{v_k}`.

    Parameters
    ----------
    min_share : float, default 0.05
        Minimum traffic share per arm, in [0, 1); ``K * min_share`` must be <= 1.
    n_samples : int, default 10000
        Monte Carlo draws (>= 100).
    random_state : int, Generator or None
    prior_alpha, prior_beta : float, default 1.0
        Beta prior (> 0); the default is uniform.
    prior_mean : float, default 0.0
    prior_variance : float, default inf
        Normal prior on the arm mean (> 0; ``inf`` = flat).
    alpha : float, default 0.05
        The credible intervals have posterior probability ``1 - alpha``.

    References
    ----------
    Thompson, W. R. (1933). On the likelihood that one unknown probability exceeds another
    in view of the evidence of two samples. Biometrika 25, 285-294.
    Chapelle, O., Li, L. (2011). An Empirical Evaluation of Thompson Sampling. NIPS 2011.
    Scott, S. L. (2010). A modern Bayesian look at the multi-armed bandit. Applied
    Stochastic Models in Business and Industry 26, 639-658.
    """

    def __init__(self, min_share: float = 0.05, n_samples: int = 10000, random_state=None,
                 prior_alpha: float = 1.0, prior_beta: float = 1.0, prior_mean: float = 0.0,
                 prior_variance: float = math.inf, alpha: float = 0.05) -> None:
        self.min_share = v.check_positive(min_share, "min_share", allow_zero=True)
        if self.min_share >= 1:
            raise ValueError(f"`min_share` must be < 1, got {min_share}")
        self.n_samples = v.check_int(n_samples, "n_samples", minimum=100)
        v.check_random_state(random_state)  # validates the type; the generator is built per call
        self.random_state = random_state
        self.prior_alpha = v.check_positive(prior_alpha, "prior_alpha")
        self.prior_beta = v.check_positive(prior_beta, "prior_beta")
        if isinstance(prior_mean, bool) or not isinstance(prior_mean, (int, float)) or not math.isfinite(prior_mean):
            raise ValueError(f"`prior_mean` must be a finite number, got {prior_mean!r}")
        self.prior_mean = float(prior_mean)
        if isinstance(prior_variance, bool) or not isinstance(prior_variance, (int, float)) \
                or math.isnan(prior_variance) or prior_variance <= 0:
            raise ValueError(f"`prior_variance` must be > 0 (inf for a flat prior), got {prior_variance!r}")
        self.prior_variance = float(prior_variance)
        self.alpha = v.check_alpha(alpha)

    def __repr__(self) -> str:
        return f"ThompsonSampling(min_share={self.min_share}, n_samples={self.n_samples})"

    def _names(self, arms, k):
        names = tuple(str(a) for a in arms) if arms is not None else tuple(f"arm_{i}" for i in range(k))
        if len(names) != k:
            raise ValueError(f"`arms` has {len(names)} names for {k} arms")
        if len(set(names)) != k:
            raise ValueError("`arms` names must be unique")
        if k < 2:
            raise ValueError(f"need at least 2 arms, got {k}")
        if k * self.min_share > 1 + 1e-12:
            raise ValueError(
                f"min_share={self.min_share} is infeasible for {k} arms (k * min_share = "
                f"{k * self.min_share:.3f} > 1)"
            )
        return names

    def _credible(self, family, posterior):
        """(sd, low, high) of each arm's posterior."""
        sd, lo, hi = [], [], []
        for post in posterior:
            if family == "beta":
                a_, b_ = post["alpha"], post["beta"]
                s = math.sqrt(a_ * b_ / ((a_ + b_) ** 2 * (a_ + b_ + 1)))
                low, high = stats.beta.ppf([self.alpha / 2, 1 - self.alpha / 2], a_, b_)
            else:
                s = post["sd"]
                z = z_critical(self.alpha)
                low, high = post["mean"] - z * s, post["mean"] + z * s
            sd.append(float(s)), lo.append(float(low)), hi.append(float(high))
        return tuple(sd), tuple(lo), tuple(hi)

    def _finish(self, names, family, posterior, post_mean, draws, n):
        k = len(names)
        sd, lo, hi = self._credible(family, posterior)
        best = np.bincount(np.argmax(draws, axis=1), minlength=k) / self.n_samples
        alloc = self.min_share + (1.0 - k * self.min_share) * best
        return BanditAllocation(
            arms=names, family=family, posterior=tuple(posterior),
            posterior_mean=tuple(float(x) for x in post_mean),
            prob_best=tuple(float(x) for x in best),
            prob_best_std_error=tuple(float(math.sqrt(p * (1 - p) / self.n_samples)) for p in best),
            allocation=tuple(float(x) for x in alloc), min_share=self.min_share,
            n_samples=self.n_samples, n=tuple(float(x) for x in n),
            posterior_sd=sd, credible_low=lo, credible_high=hi, alpha=self.alpha,
        )

    def allocate_binary(self, successes, trials, arms=None) -> BanditAllocation:
        """Allocation for a Bernoulli reward (click or purchase rate).

        Parameters
        ----------
        successes, trials : array-like of float
            Per-arm counts; ``0 <= successes <= trials``.
        arms : sequence of str, optional
            Arm names.
        """
        s = v.check_finite(successes, "successes", nonnegative=True)
        n = v.check_finite(trials, "trials", nonnegative=True)
        v.check_lengths(successes=s, trials=n)
        if (s > n).any():
            i = int(np.flatnonzero(s > n)[0])
            raise ValueError(f"arm {i} has more successes ({s[i]}) than trials ({n[i]})")
        names = self._names(arms, s.size)
        a, b = self.prior_alpha + s, self.prior_beta + n - s
        rng = v.check_random_state(self.random_state)
        draws = rng.beta(a, b, size=(self.n_samples, s.size))
        post = [{"alpha": float(x), "beta": float(y)} for x, y in zip(a, b)]
        return self._finish(names, "beta", post, a / (a + b), draws, n)

    def allocate_normal(self, samples, arms=None) -> BanditAllocation:
        """Allocation for a continuous reward (revenue per user).

        Parameters
        ----------
        samples : mapping arm -> array-like, or sequence of array-likes
            Per-user values of each arm (>= 2 per arm, no NaN).
        arms : sequence of str, optional
            Arm names for a sequence input.
        """
        if isinstance(samples, Mapping):
            if arms is not None:
                raise ValueError("give arm names either as mapping keys or as `arms`, not both")
            arms, samples = list(samples.keys()), list(samples.values())
        samples = list(samples)
        names = self._names(arms, len(samples))
        ys = [v.check_finite(x, f"samples[{nm}]", min_size=2) for nm, x in zip(names, samples)]
        means, variances, post = [], [], []
        for y in ys:
            prec = y.size / max(sample_var(y), 1e-300)
            prior_prec = 0.0 if math.isinf(self.prior_variance) else 1.0 / self.prior_variance
            var = 1.0 / (prior_prec + prec)
            mean = var * (prior_prec * self.prior_mean + prec * y.mean())
            means.append(mean)
            variances.append(var)
            post.append({"mean": float(mean), "sd": float(math.sqrt(var))})
        rng = v.check_random_state(self.random_state)
        draws = rng.normal(np.array(means), np.sqrt(variances), size=(self.n_samples, len(ys)))
        return self._finish(names, "normal", post, means, draws, [y.size for y in ys])
