r"""Chapelle's delayed feedback model (DFM): conversion and delay fitted jointly, by
maximum likelihood.

The model
---------
A click with covariates :math:`x` eventually converts (an *attributed* purchase, within the
window :math:`W`) with probability :math:`p(x) = \sigma(w^\top x)`. Given that it converts,
its delay :math:`D` has the density :math:`f(d \mid x)` of a parametric law with cumulative
hazard

.. math::

    H(t \mid x) = (\lambda(x)\, t)^{k}, \qquad \lambda(x) = \exp(v^\top x_d),
    \qquad k = 1 \ \text{(exponential, Chapelle's form)} \ \text{or}\ k = e^{\kappa} > 0
    \ \text{(Weibull, one shape shared by every row)},

:math:`S(t) = e^{-H(t)}`, :math:`F = 1 - S`, :math:`f = H'(t) S(t)`. A purchase counts only
when it comes within the window, so the delay of an attributed purchase follows the law
truncated to :math:`[0, W]`:

.. math::

    f_W(d) = \frac{f(d)}{F(W)}, \qquad
    F_W(t) = \frac{F(\min(t, W))}{F(W)}, \qquad S_W = 1 - F_W \ \ (S_W(t) = 0 \text{ for }
    t \ge W),

and :math:`p(x)` is the probability of an attributed purchase (of any purchase when
:math:`W = \infty`, where :math:`F(W) = 1` and this is Chapelle's model as published).

The likelihood
--------------
Row :math:`i` has converted so far (:math:`y_i = 1`, with delay :math:`d_i`) or not
(:math:`y_i = 0`, with :math:`e_i` hours from its click to the data's end):

.. math::

    \ell_i = y_i\,\big[\log p_i + \log f_W(d_i)\big]
           + (1 - y_i)\,\log\big(1 - p_i + p_i\, S_W(e_i)\big),

the second term because a click not converted so far either never converts, or converts
later than :math:`e_i`. A row whose window has closed (:math:`e_i \ge W`) gives
:math:`\log(1 - p_i)`: no censoring is left. The negative log-likelihood (plus an optional
ridge :math:`\tfrac{\rho}{2}(\lVert w\rVert^2 + \lVert v\rVert^2)`) is minimised with
L-BFGS-B on its exact analytic gradient, then polished by Newton steps on its exact
analytic Hessian, which is also the observed Fisher information behind the covariance.

Reference: Chapelle, O. (2014). Modeling delayed feedback in display advertising.
KDD '14, 1097-1105.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import optimize, sparse, special
from scipy.sparse import linalg as sparse_linalg

from receval import _validation as v
from receval.delayed._dfm_likelihood import Likelihood, inverse, newton_polish
from receval.delayed.survival import DAY
from receval.metrics.uncertainty import normal_interval, single_blas_thread

__all__ = ["DELAY_DISTRIBUTIONS", "DelayedFeedbackModel", "DelayedFeedbackFit", "CohortRates"]

DELAY_DISTRIBUTIONS = ("exponential", "weibull")
_LOGIT_CAP = 40.0  # logit of a probability fixed at 1 (a cohort converted entirely)
_LOG_SHAPE_BOUND = 6.0  # the Weibull shape stays within [exp(-6), exp(6)] = [0.0025, 403]


# ---------------------------------------------------------------------- results
@dataclass(frozen=True)
class DelayedFeedbackFit:
    r"""A fitted delayed feedback model.

    Attributes
    ----------
    coef : ndarray, shape (p,)
        :math:`\hat w`: the conversion logit :math:`\log(p / (1 - p)) = w^\top x`.
    delay_coef : ndarray, shape (q,)
        :math:`\hat v`: the log delay rate :math:`\log\lambda = v^\top x_d` (per hour).
    shape : float
        Weibull shape :math:`\hat k` (1 for the exponential).
    covariance : ndarray, shape (P, P)
        Covariance of :math:`(\hat w, \hat v, \log\hat k)` (``log k`` only for the Weibull):
        the inverse observed Fisher information, or the cluster-robust sandwich
        :math:`I^{-1} B I^{-1}` when fitted with ``group_ids``.
    covariance_type : str
        ``observed_information`` or ``cluster_robust``.
    std_error, delay_std_error : ndarray
        Standard errors of ``coef`` and ``delay_coef``.
    shape_std_error : float
        :math:`\hat k \cdot SE(\log \hat k)`; 0 for the exponential, and for a shape held
        at its bound :math:`e^{\pm 6}` (every delay nearly the same), whose row and column of
        ``covariance`` are 0.
    log_likelihood : float
        At the estimate (without the ridge).
    delay : str
        ``exponential`` or ``weibull``.
    window : float
        :math:`W` (hours; ``inf``: no truncation).
    alpha : float
        Significance level of the intervals.
    n, n_converted : int
        Rows, and rows converted so far.
    n_groups : int or None
        Clusters of the sandwich (``None``: model-based covariance).
    n_iter : int
        L-BFGS-B iterations plus Newton steps.
    converged : bool
        The gradient of the mean negative log-likelihood (in the parameters not held at a
        bound) is below 1e-6 at the estimate.
    """

    coef: np.ndarray
    delay_coef: np.ndarray
    shape: float
    covariance: np.ndarray = field(repr=False)
    covariance_type: str
    std_error: np.ndarray
    delay_std_error: np.ndarray
    shape_std_error: float
    log_likelihood: float
    delay: str
    window: float
    alpha: float
    n: int
    n_converted: int
    n_groups: int | None
    n_iter: int
    converged: bool

    def predict_proba(self, X: Any) -> np.ndarray:
        r""":math:`\hat p(x) = \sigma(\hat w^\top x)`: the calibrated eventual conversion
        probability of each row of ``X`` (an attributed purchase within the window)."""
        X = _design(X, "X", n_columns=self.coef.size)
        return special.expit(X @ self.coef)

    def delay_cdf(self, t: Any, X_delay: Any = None) -> np.ndarray:
        r""":math:`F_W(t) = F(\min(t, W)) / F(W)`: the probability that an attributed
        purchase has arrived within ``t`` hours of its click. ``X_delay``: one row per
        ``t`` (``None``: the delay design is a single intercept column)."""
        t = v.check_finite(t, "t", nonnegative=True, min_size=0)
        if X_delay is None:
            if self.delay_coef.size != 1:
                raise ValueError(f"`X_delay` is needed: the delay design has {self.delay_coef.size} columns")
            log_rate = np.full(t.size, self.delay_coef[0])
        else:
            log_rate = _design(X_delay, "X_delay", n_columns=self.delay_coef.size) @ self.delay_coef
            v.check_lengths(t=t, X_delay=log_rate)
        with np.errstate(divide="ignore"):
            h = np.exp(self.shape * (log_rate + np.log(np.minimum(t, self.window))))
        f = -np.expm1(-h)
        if math.isfinite(self.window):
            f = f / -np.expm1(-np.exp(self.shape * (log_rate + math.log(self.window))))
        return np.minimum(f, 1.0)


@dataclass(frozen=True)
class CohortRates:
    r"""The eventual conversion rate of each cohort by the DFM (one intercept per cohort,
    one delay law shared by all), arrays aligned with ``cohorts``.

    Attributes
    ----------
    cohorts : ndarray
        The distinct cohort labels, sorted.
    estimate : ndarray
        :math:`\hat p_c = \sigma(\hat w_c)`.
    std_error : ndarray
        Delta method :math:`\hat p_c (1 - \hat p_c)\, SE(\hat w_c)`; 0 where the cohort has
        no conversion (or converted entirely): :math:`\hat p_c` is 0 (or 1) there, as the
        naive rate is.
    ci_low, ci_high : ndarray
        Wald ``1 - alpha`` interval, clipped to [0, 1].
    naive : ndarray
        The share converted so far.
    n, n_converted : ndarray of int
        Rows and rows converted so far.
    fit : DelayedFeedbackFit
        The model behind: its ``coef`` are the intercepts of the cohorts with some but not
        all rows converted, in ``cohorts`` order, and ``delay_coef`` the shared log rate.
    alpha : float
        Significance level of the intervals.
    """

    cohorts: np.ndarray
    estimate: np.ndarray
    std_error: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    naive: np.ndarray
    n: np.ndarray
    n_converted: np.ndarray
    fit: DelayedFeedbackFit = field(repr=False)
    alpha: float


# ----------------------------------------------------------------------- inputs
def _design(X: Any, name: str, n_columns: int | None = None, n_rows: int | None = None):
    """A 2-D finite float design (dense ndarray or scipy sparse CSR)."""
    if X is None:
        raise ValueError(f"`{name}` must be a 2-D array (rows x columns), got None")
    if sparse.issparse(X):
        X = sparse.csr_matrix(X, dtype=np.float64)
        values = X.data
    else:
        if type(X).__module__.startswith("pandas"):
            X = X.to_numpy(dtype=float)
        try:
            X = np.asarray(X, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"`{name}` must be numeric") from exc
        if X.ndim == 1:
            X = X[:, None]
        if X.ndim != 2:
            raise ValueError(f"`{name}` must be 2-dimensional (rows x columns), got shape {X.shape}")
        values = X
    if not np.isfinite(values).all():
        raise ValueError(f"`{name}` contains NaN or infinite value(s)")
    if n_columns is not None and X.shape[1] != n_columns:
        raise ValueError(f"`{name}` has {X.shape[1]} column(s); the model was fitted with {n_columns}")
    if n_rows is not None and X.shape[0] != n_rows:
        raise ValueError(f"length mismatch: `{name}` has {X.shape[0]} rows, `converted` has {n_rows}")
    return X



class DelayedFeedbackModel:
    r"""Chapelle's delayed feedback model: the eventual conversion probability and the delay
    distribution fitted jointly by maximum likelihood.

    .. math::

        p(x) = \sigma(w^\top x), \qquad D \mid \text{converts} \sim f_W(\cdot \mid x),
        \quad H(t \mid x) = (e^{v^\top x_d}\, t)^k,

        \ell(w, v, k) = \sum_{i:\ y_i = 1} \big[\log p_i + \log f_W(d_i)\big]
            + \sum_{i:\ y_i = 0} \log\big(1 - p_i + p_i S_W(e_i)\big),

    with :math:`f_W = f / F(W)` and :math:`S_W(t) = 1 - F(\min(t, W)) / F(W)` the delay law
    truncated to the attribution window (see the module docstring). ``delay="exponential"``
    fixes :math:`k = 1` (Chapelle's :math:`\lambda(x) = \exp(v^\top x)`); ``"weibull"`` fits
    one shape :math:`k` shared by every row, so the covariates scale the delay (accelerated
    failure time) but do not change its form. With ``window=inf`` this is Chapelle's model
    as published: :math:`p` is then the probability of ever converting.

    Fitting. L-BFGS-B minimises the exact negative log-likelihood with its analytic
    gradient (robust far from the optimum, where the likelihood need not be concave), then
    Newton steps on the exact Hessian polish the optimum to machine precision. Chapelle
    fits the same likelihood by EM or gradient descent; EM converges slowly when much of
    the data is censored, and gives no information matrix. The covariance is the inverse
    observed Fisher information :math:`I^{-1}` (the Hessian of the negative log-likelihood
    at the estimate), or with ``group_ids`` the cluster-robust sandwich
    :math:`\frac{G}{G-1} I^{-1} \big(\sum_g s_g s_g^\top\big) I^{-1}`, :math:`s_g` the score
    summed over cluster :math:`g` (Cameron & Miller 2015): the clicks of one user are
    correlated (the same taste, the same purchase credited to the latest of several
    clicks), which the model-based variance ignores.

    Assumptions. The model is parametric: the conversion logit is linear in :math:`x`, and
    the delay of an attributed purchase follows the truncated exponential (Weibull) law.
    Where the true delay has another shape (the simulator's mixture of a lognormal within a
    day and a uniform over days 1-7), the fitted law is the closest one in Kullback-Leibler
    divergence, and the correction of young cohorts inherits its misfit near their
    elapsed times. As for the survival re-weighting, the delay is independent of the click
    time given :math:`x_d` (stationarity), and a click's conversion independent of how long
    ago it was made.

    Parameters
    ----------
    delay : {"weibull", "exponential"}, default "weibull"
        The delay law: the Weibull nests Chapelle's exponential (:math:`k = 1`) and fits a
        delay with a fast head and a long tail far better (docs/delayed_feedback.md). Its
        shape is bounded to :math:`[e^{-6}, e^{6}]`; at a bound (every delay nearly the
        same) it is held fixed.
    window : float, default 168.0
        Attribution window :math:`W` (hours); ``math.inf`` for none (Chapelle's original).
    alpha : float, default 0.05
        Intervals have coverage ``1 - alpha``.
    ridge : float, default 0.0
        L2 penalty :math:`\frac{\rho}{2}(\lVert w\rVert^2 + \lVert v\rVert^2)` on the summed
        negative log-likelihood (the Weibull log shape is not penalised).
    min_delay : float, default 1 / 3600
        Delays (hours) below it are raised to it (one second): a delay of exactly 0 has
        density 0 or infinity under a Weibull, and makes the exponential rate infinite when
        every delay is 0.
    max_iter : int, default 500
        Most L-BFGS-B iterations.

    The data go to :meth:`fit` (a design) or :meth:`cohort_rates` (cohort labels).

    References
    ----------
    Chapelle, O. (2014). Modeling delayed feedback in display advertising. KDD '14,
    1097-1105.
    Cameron, A. C., Miller, D. L. (2015). A practitioner's guide to cluster-robust
    inference. Journal of Human Resources 50(2), 317-372.
    """

    def __init__(self, delay: str = "weibull", *, window: float = 7 * DAY, alpha: float = 0.05,
                 ridge: float = 0.0, min_delay: float = 1.0 / 3600.0, max_iter: int = 500):
        if delay not in DELAY_DISTRIBUTIONS:
            raise ValueError(f"`delay` must be one of {list(DELAY_DISTRIBUTIONS)}, got {delay!r}")
        self.delay = delay
        if isinstance(window, (int, float)) and not isinstance(window, bool) and window == math.inf:
            self.window = math.inf
        else:
            self.window = v.check_positive(window, "window")
        self.alpha = v.check_alpha(alpha)
        self.ridge = v.check_positive(ridge, "ridge", allow_zero=True)
        self.min_delay = v.check_positive(min_delay, "min_delay")
        self.max_iter = v.check_int(max_iter, "max_iter", minimum=1)

    # ----------------------------------------------------------------- checks
    def _check_rows(self, converted: Any, delay: Any, elapsed: Any,
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(converted, delay raised to min_delay and NaN where not converted, elapsed)."""
        y = v.check_binary(converted, "converted")
        if y.size == 0:
            raise ValueError("`converted` is empty: there are no rows to fit")
        e = v.check_finite(elapsed, "elapsed", nonnegative=True)
        d = v.check_finite(delay, "delay", allow_nan=True)  # NaN allowed where not converted
        v.check_lengths(converted=y, delay=d, elapsed=e)
        dc = np.where(y, d, 0.0)
        v.first_violation(y & np.isnan(d), "delay", d, "is NaN/null where `converted` is 1: a "
                         "converted row needs its click-to-purchase delay")
        v.first_violation(dc < 0, "delay", d, "is negative; it must be >= 0 (hours from click to purchase)")
        v.first_violation(dc > e, "delay", d, "is above its row's `elapsed`: a purchase seen by the "
                         "data's end arrived within the elapsed time")
        v.first_violation(dc > self.window, "delay", d, f"is above the attribution window "
                         f"({self.window:g} h): only attributed purchases count as conversions")
        if not y.any():
            raise ValueError("`converted` has no 1: without a conversion the delay distribution "
                             "(and any rate above 0) is not identified")
        return y, np.where(y, np.maximum(dc, self.min_delay), np.nan), e

    # -------------------------------------------------------------------- fit
    def fit(self, X: Any, converted: Any, delay: Any, elapsed: Any, *, X_delay: Any = None,
            group_ids: Any = None) -> DelayedFeedbackFit:
        """Fit the model by maximum likelihood.

        Parameters
        ----------
        X : array-like or scipy.sparse matrix, shape (n, p)
            Covariates of the conversion probability (include a column of ones for an
            intercept).
        converted : array-like of {0, 1}, shape (n,)
            Whether the click has an attributed purchase so far.
        delay : array-like of float, shape (n,)
            Hours from click to purchase where converted, in [0, min(elapsed, window)];
            ignored (NaN allowed) where not converted.
        elapsed : array-like of float, shape (n,)
            Hours from the click to the data's end, >= 0.
        X_delay : array-like or scipy.sparse matrix, shape (n, q), optional
            Covariates of the log delay rate; default ``X`` (Chapelle's form).
        group_ids : array-like, shape (n,), optional
            Cluster of each row (user): the covariance is then cluster-robust.

        Returns
        -------
        DelayedFeedbackFit
        """
        y, d, e = self._check_rows(converted, delay, elapsed)
        X = _design(X, "X", n_rows=y.size)
        Xd = X if X_delay is None else _design(X_delay, "X_delay", n_rows=y.size)
        members = None
        if group_ids is not None:
            codes, n_groups = v.group_codes(group_ids, "group_ids", n=y.size, sort=True)
            members = _membership(codes, np.arange(y.size), np.ones(y.size), n_groups, y.size)
        return self._fit(X, Xd, y, d, e, members=members, start=self._start(X, Xd, y, d))

    def _start(self, X, Xd, y: np.ndarray, d: np.ndarray) -> np.ndarray:
        """Least-squares start: every logit at the naive rate's, every log rate at
        -log(mean delay)."""
        rate = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))

        def solve(A, target):
            if sparse.issparse(A):
                return sparse_linalg.lsqr(A, target)[0]
            return np.linalg.lstsq(A, target, rcond=None)[0]

        w0 = solve(X, np.full(X.shape[0], special.logit(rate)))
        v0 = solve(Xd[np.flatnonzero(y)], np.full(int(y.sum()), -math.log(float(np.mean(d[y])))))
        return np.concatenate([w0, v0, [0.0] if self.delay == "weibull" else []])

    def _fit(self, X, Xd, y: np.ndarray, d: np.ndarray, e: np.ndarray, *, start: np.ndarray,
             offset: np.ndarray | None = None, weights: np.ndarray | None = None,
             members=None) -> DelayedFeedbackFit:
        """The MLE and its covariance. ``weights``: frequency weights; ``members`` (sparse,
        clusters x rows): the units of each row in each cluster, for the sandwich."""
        weibull = self.delay == "weibull"
        lik = Likelihood(X, Xd, y, np.where(y, d, 0.0), e, self.window, weibull, self.ridge,
                         offset=offset, weights=weights)
        n_units = float(lik.weights.sum())

        def mean_nll(theta):
            f, g = lik.nll_grad(theta)
            return f / n_units, g / n_units

        bounds = [(None, None)] * lik.n_params
        if weibull:
            bounds[-1] = (-_LOG_SHAPE_BOUND, _LOG_SHAPE_BOUND)
        # one BLAS thread: the problem is small (tens of parameters), and a threaded BLAS on a
        # busy machine makes each L-BFGS-B step milliseconds slower
        with single_blas_thread():
            res = optimize.minimize(mean_nll, start, jac=True, method="L-BFGS-B", bounds=bounds,
                                    options={"maxiter": self.max_iter, "ftol": 1e-14, "gtol": 1e-9})
            # a Weibull shape at its bound (every delay nearly the same) stays fixed there
            free = np.ones(lik.n_params, dtype=bool)
            if weibull and abs(res.x[-1]) >= _LOG_SHAPE_BOUND - 1e-8:
                free[-1] = False
            theta, steps = newton_polish(lik, res.x, free)
            _, grad = lik.nll_grad(theta)
            cov = np.zeros((lik.n_params, lik.n_params))
            inv = inverse(lik.hessian(theta)[np.ix_(free, free)])
            cov_type, n_groups = "observed_information", None
            if members is not None:
                n_groups = members.shape[0]
                scores = lik.cluster_scores(theta, members)[:, free]
                meat = scores.T @ scores * (n_groups / (n_groups - 1) if n_groups > 1 else 1.0)
                inv, cov_type = inv @ meat @ inv, "cluster_robust"
            cov[np.ix_(free, free)] = inv
        se = np.sqrt(np.maximum(np.diag(cov), 0.0))
        w, vd, kappa = lik.split(theta)
        a, b = lik.n_conv, lik.n_conv + lik.n_delay
        k = math.exp(kappa)
        return DelayedFeedbackFit(
            coef=w.copy(), delay_coef=vd.copy(), shape=k, covariance=cov, covariance_type=cov_type,
            std_error=se[:a], delay_std_error=se[a:b], shape_std_error=float(k * se[b]) if weibull else 0.0,
            log_likelihood=lik.log_likelihood(theta), delay=self.delay, window=self.window,
            alpha=self.alpha, n=int(round(n_units)), n_converted=int(round(lik.weights[y].sum())),
            n_groups=n_groups, n_iter=int(res.nit) + steps,
            converged=bool(np.max(np.abs(grad[free])) / n_units < 1e-6))

    # ---------------------------------------------------------- cohort rates
    def cohort_rates(self, cohort_codes: Any, converted: Any, delay: Any, elapsed: Any,
                     group_ids: Any = None) -> CohortRates:
        r"""The eventual conversion rate of each cohort (a click day, a segment), with one
        intercept per cohort and one delay law shared by every cohort:
        :math:`\text{logit}\, p_i = w_{c(i)}`, :math:`\log\lambda_i = v_0`.

        A cohort whose clicks are all past the window gets :math:`\hat p_c` = its share
        converted (its rows carry no censoring); a cohort without any conversion gets 0, one
        converted entirely 1, each with standard error 0 (the naive rate's too). The
        standard error is the delta method on the logit,
        :math:`SE(\hat p_c) = \hat p_c(1 - \hat p_c)\, SE(\hat w_c)`, from the inverse
        observed information, cluster-robust on ``group_ids`` when given; the interval is
        :math:`\hat p_c \mp z\, SE`, clipped to [0, 1].

        The rows not converted whose window has closed contribute :math:`\log(1 - p_c)`
        each, so they are summed into one weighted row per cohort (the fit then runs on the
        purchases and the open rows only: seconds for 350,000 clicks).

        Parameters
        ----------
        cohort_codes : array-like, shape (n,)
            The cohort of each row (any sortable labels).
        converted, delay, elapsed
            As :meth:`fit`.
        group_ids : array-like, shape (n,), optional
            Cluster of each row (user).

        Returns
        -------
        CohortRates
        """
        y, d, e = self._check_rows(converted, delay, elapsed)
        labels = v.as_1d(cohort_codes, "cohort_codes")
        v.check_lengths(converted=y, cohort_codes=labels)
        gcodes = n_groups = None
        if group_ids is not None:
            gcodes, n_groups = v.group_codes(group_ids, "group_ids", n=y.size, sort=True)
        cohorts, codes = np.unique(labels, return_inverse=True)
        codes = codes.ravel()
        n_c = np.bincount(codes, minlength=cohorts.size)
        conv_c = np.bincount(codes, weights=y, minlength=cohorts.size).astype(np.int64)
        naive = conv_c / n_c
        free = (conv_c > 0) & (conv_c < n_c)              # an intercept to fit
        column = np.cumsum(free) - 1
        # Rows of a cohort without conversion carry nothing (p = 0); those of a cohort
        # converted entirely keep their delay term, with p fixed at 1 by the offset. The
        # closed rows not converted become one weighted row per cohort.
        keep = conv_c[codes] > 0
        closed = keep & ~y & (e >= self.window)
        single = np.flatnonzero(keep & ~closed)
        closed_c = np.bincount(codes[closed], minlength=cohorts.size)
        pooled = np.flatnonzero(closed_c)                 # cohorts with a pooled row
        row_cohort = np.concatenate([codes[single], pooled])
        n_rows = row_cohort.size
        weights = np.concatenate([np.ones(single.size), closed_c[pooled]]).astype(np.float64)
        yy = np.concatenate([y[single], np.zeros(pooled.size, dtype=bool)])
        dd = np.concatenate([d[single], np.full(pooled.size, np.nan)])
        ee = np.concatenate([e[single], np.full(pooled.size, self.window)])
        is_free = free[row_cohort]
        X = sparse.csr_matrix((np.ones(int(is_free.sum())),
                               (np.flatnonzero(is_free), column[row_cohort[is_free]])),
                              shape=(n_rows, int(free.sum())))
        offset = np.where(is_free, 0.0, _LOGIT_CAP)
        members = None
        if gcodes is not None:
            pooled_row = np.full(cohorts.size, -1)
            pooled_row[pooled] = single.size + np.arange(pooled.size)
            members = _membership(np.concatenate([gcodes[single], gcodes[closed]]),
                                  np.concatenate([np.arange(single.size), pooled_row[codes[closed]]]),
                                  np.ones(single.size + int(closed.sum())), n_groups, n_rows)
            seen = np.unique(members.nonzero()[0])        # clusters with a row in the fit
            members = members[seen]
        # start: each logit at its naive rate's, the log rate at -log(mean delay)
        start = np.concatenate([special.logit(np.clip(naive[free], 1e-6, 1 - 1e-6)),
                                [-math.log(float(np.mean(d[y])))],
                                [0.0] if self.delay == "weibull" else []])
        fit = self._fit(X, np.ones((n_rows, 1)), yy, dd, ee, start=start, offset=offset,
                        weights=weights, members=members)
        estimate = naive.astype(float).copy()
        std_error = np.zeros(cohorts.size)
        estimate[free] = special.expit(fit.coef)
        std_error[free] = estimate[free] * (1 - estimate[free]) * fit.std_error
        lo, hi = np.array([normal_interval(p, s, self.alpha, (0.0, 1.0))
                           for p, s in zip(estimate, std_error)]).reshape(-1, 2).T
        return CohortRates(cohorts=cohorts, estimate=estimate, std_error=std_error, ci_low=lo, ci_high=hi,
                           naive=naive, n=n_c.astype(np.int64), n_converted=conv_c, fit=fit, alpha=self.alpha)


def _membership(group: np.ndarray, row: np.ndarray, count: np.ndarray, n_groups: int, n_rows: int):
    """Sparse (clusters x rows) matrix of unit counts (duplicates summed)."""
    return sparse.csr_matrix((count, (group, row)), shape=(n_groups, n_rows))
