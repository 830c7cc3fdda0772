"""The DFM's log-likelihood and its exact derivatives (private): per-row terms, gradient,
Hessian (the observed information) and per-cluster scores, and the Newton polish and
inverse built on them.

Apart from :mod:`receval.delayed.dfm` because this is the model's calculus, checked on its
own against finite differences (tests/python/delayed/test_dfm.py); dfm.py is the estimator
around it: the input checks, the fit, the covariance and the results. The formulas are in
dfm's module docstring.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import sparse, special

_LOG_H_CAP = 700.0  # cumulative hazards are capped at e^700 (exp overflows at 709.8)


def _log1mexp(h: np.ndarray) -> np.ndarray:
    """``log(1 - exp(-h))`` = log F for cumulative hazard ``h`` (``-inf`` at 0)."""
    with np.errstate(divide="ignore"):
        return np.log(-np.expm1(-h))


def _dlog_f(h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""First and second derivative of :math:`L(z) = \log F = \log(1 - e^{-e^z})` in
    :math:`z = \log H`: :math:`L' = q = H / (e^H - 1)`, :math:`L'' = q (1 - H / (1 - e^{-H}))`,
    with their limits 1 and 0 at :math:`H = 0`."""
    pos = h > 0.0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        q = np.where(pos, h / np.expm1(h), 1.0)
        r = np.where(pos, h / -np.expm1(-h), 1.0)
    return q, q * (1.0 - r)


@dataclass
class _RowTerms:
    """Per-row log-likelihood and its derivatives in the linear predictors
    ``eta = X w`` (conversion logit), ``u = X_d v`` (log rate) and the log shape ``kappa``."""

    value: np.ndarray
    d_eta: np.ndarray
    d_u: np.ndarray
    d_kappa: np.ndarray
    second: dict[str, np.ndarray] | None = None  # keys eta_eta, eta_u, eta_kappa, u_u, u_kappa, kappa_kappa


class Likelihood:
    """The DFM log-likelihood of one data set, its gradient, Hessian and per-row scores.

    ``weights``: frequency weights (a row standing for several identical rows)."""

    def __init__(self, X, X_delay, y: np.ndarray, delay: np.ndarray, elapsed: np.ndarray,
                 window: float, weibull: bool, ridge: float, offset: np.ndarray | None = None,
                 weights: np.ndarray | None = None):
        self.X, self.Xd = X, X_delay
        self.n, self.n_conv, self.n_delay = y.size, X.shape[1], X_delay.shape[1]
        self.weibull, self.ridge, self.window = weibull, ridge, window
        self.finite_window = math.isfinite(window)
        self.log_window = math.log(window) if self.finite_window else math.inf
        self.offset = np.zeros(y.size) if offset is None else offset
        self.weights = np.ones(y.size) if weights is None else weights
        self.n_params = self.n_conv + self.n_delay + int(weibull)
        # three kinds of row: converted (delay term at its delay), not converted with the
        # window still open (delay term at its elapsed time), not converted with the window
        # closed (no delay term: S_W = 0 there)
        self.i_conv = np.flatnonzero(y)
        is_open = ~y & (elapsed < window)
        self.i_open = np.flatnonzero(is_open)
        self.i_closed = np.flatnonzero(~y & ~is_open)
        with np.errstate(divide="ignore"):  # -inf for an open row at elapsed 0: F = 0, no information
            self.log_d = np.log(delay[self.i_conv])
            self.log_e = np.log(elapsed[self.i_open])

    def split(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        w, vd = theta[:self.n_conv], theta[self.n_conv:self.n_conv + self.n_delay]
        return w, vd, (float(theta[-1]) if self.weibull else 0.0)

    def _delay_terms(self, u: np.ndarray, log_t: np.ndarray, k: float) -> dict[str, np.ndarray]:
        """z1 = log H(t), H(t), and z2 = log H(W) with log F(W) and its z-derivatives."""
        z1 = k * (u + log_t)
        out = {"z1": z1, "h1": np.exp(np.minimum(z1, _LOG_H_CAP))}  # H beyond e^700: S = 0 anyway
        if self.finite_window:
            z2 = k * (u + self.log_window)
            h2 = np.exp(np.minimum(z2, _LOG_H_CAP))
            q2, q2_prime = _dlog_f(h2)
            out.update(z2=z2, h2=h2, log_fw=_log1mexp(h2), q2=q2, q2_prime=q2_prime)
        else:  # F(W) = 1: no z2 terms at all
            zero = np.zeros_like(u)
            out.update(z2=zero, h2=np.full_like(u, np.inf), log_fw=zero, q2=zero, q2_prime=zero)
        return out

    def rows(self, theta: np.ndarray, second: bool) -> _RowTerms:
        """Per-row (unweighted) terms. Each kind's log-likelihood is first differentiated in
        eta and in z1 = log H(t), z2 = log H(W), then chained to u = log rate and kappa =
        log shape through z = k (u + log t): dz/du = k, dz/dkappa = z, d2z/du dkappa = k,
        d2z/dkappa2 = z."""
        w, vd, kappa = self.split(theta)
        k = math.exp(kappa)
        eta = self.X @ w + self.offset
        u = self.Xd @ vd
        n = self.n
        value, d_eta, d_u, d_kappa = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
        keys = ("eta_eta", "eta_u", "eta_kappa", "u_u", "u_kappa", "kappa_kappa")
        sec = {key: np.zeros(n) for key in keys} if second else None

        # window closed, not converted: log(1 - p)
        i = self.i_closed
        p = special.expit(eta[i])
        value[i] = -np.logaddexp(0.0, eta[i])
        d_eta[i] = -p
        if second:
            sec["eta_eta"][i] = -p * (1.0 - p)

        # converted: log p + log k + z1 - log d - H(d) - log F(W)
        i = self.i_conv
        t = self._delay_terms(u[i], self.log_d, k)
        p = special.expit(eta[i])
        value[i] = -np.logaddexp(0.0, -eta[i]) + kappa + t["z1"] - self.log_d - t["h1"] - t["log_fw"]
        d_eta[i] = 1.0 - p
        l1, l2 = 1.0 - t["h1"], -t["q2"]
        l11, l22 = -t["h1"], -t["q2_prime"]
        l12 = np.zeros_like(l1)
        zero = np.zeros_like(l1)
        self._chain(i, t["z1"], t["z2"], k, 1.0, l1, l2, zero, zero, l11, l12, l22, d_u, d_kappa, sec)
        if second:
            sec["eta_eta"][i] = -p * (1.0 - p)

        # window open, not converted: log(1 - p G), G = F_W(e) = F(e) / F(W)
        i = self.i_open
        t = self._delay_terms(u[i], self.log_e, k)
        p = special.expit(eta[i])
        pq = p * special.expit(-eta[i])                   # dp/deta
        h1, h2 = t["h1"], t["h2"]
        g = np.exp(_log1mexp(h1) - t["log_fw"])
        with np.errstate(divide="ignore", invalid="ignore"):  # S_W = 1 - G without cancellation
            s_w = (np.exp(-h1) * -np.expm1(-(h2 - h1)) / -np.expm1(-h2) if self.finite_window
                   else np.exp(-h1))
        den = special.expit(-eta[i]) + p * np.clip(s_w, 0.0, 1.0)   # 1 - p G
        value[i] = np.log(den)
        q1, q1_prime = _dlog_f(h1)
        q2, q2_prime = t["q2"], t["q2_prime"]
        l_g = -p / den
        g1, g2 = g * q1, -g * q2                           # dG/dz1, dG/dz2
        d_eta[i] = -pq * g / den
        l1, l2 = l_g * g1, l_g * g2
        l11 = l12 = l22 = l_eta1 = l_eta2 = None
        if second:
            l_gg, l_eta_g = -(p / den) ** 2, -pq / den ** 2
            l11 = l_gg * g1 * g1 + l_g * g * (q1 * q1 + q1_prime)
            l22 = l_gg * g2 * g2 + l_g * g * (q2 * q2 - q2_prime)
            l12 = l_gg * g1 * g2 - l_g * g * q1 * q2
            l_eta1, l_eta2 = l_eta_g * g1, l_eta_g * g2
            sec["eta_eta"][i] = -(pq * (1.0 - 2.0 * p) * g * den + (pq * g) ** 2) / den ** 2
        # an open row at elapsed 0 has z1 = -inf and l1 = 0: keep z1 * l1 at 0
        z1 = np.where(np.isfinite(t["z1"]), t["z1"], 0.0)
        self._chain(i, z1, t["z2"], k, 0.0, l1, l2, l_eta1, l_eta2, l11, l12, l22, d_u, d_kappa, sec)
        return _RowTerms(value, d_eta, d_u, d_kappa if self.weibull else np.zeros(n), sec)

    @staticmethod
    def _chain(i, z1, z2, k, kappa_direct, l1, l2, l_eta1, l_eta2, l11, l12, l22, d_u, d_kappa, sec) -> None:
        """Write the derivatives in (u, kappa) of rows ``i`` from those in (eta, z1, z2);
        ``kappa_direct``: the derivative of the row's explicit log k term."""
        d_u[i] = k * (l1 + l2)
        d_kappa[i] = kappa_direct + z1 * l1 + z2 * l2
        if sec is None:
            return
        a1, a2 = l11 * z1 + l12 * z2, l12 * z1 + l22 * z2  # sum_b l_ab dz_b/dkappa
        sec["eta_u"][i] = k * (l_eta1 + l_eta2)
        sec["eta_kappa"][i] = l_eta1 * z1 + l_eta2 * z2
        sec["u_u"][i] = k * k * (l11 + 2.0 * l12 + l22)
        sec["u_kappa"][i] = k * (a1 + a2) + k * (l1 + l2)
        sec["kappa_kappa"][i] = z1 * a1 + z2 * a2 + z1 * l1 + z2 * l2

    # ---------------------------------------------------------- objective
    def _ridge(self) -> np.ndarray:
        ridge = np.full(self.n_params, self.ridge)
        if self.weibull:
            ridge[-1] = 0.0  # the log shape is not penalised
        return ridge

    def log_likelihood(self, theta: np.ndarray) -> float:
        return _dot(self.weights, self.rows(theta, second=False).value)

    def nll_grad(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        r = self.rows(theta, second=False)
        wt = self.weights
        grad = -np.concatenate([self.X.T @ (wt * r.d_eta), self.Xd.T @ (wt * r.d_u),
                                [_dot(wt, r.d_kappa)] if self.weibull else []])
        pen = self._ridge() * theta
        return -_dot(wt, r.value) + 0.5 * _dot(pen, theta), grad + pen

    def hessian(self, theta: np.ndarray) -> np.ndarray:
        """Hessian of the penalised negative log-likelihood (the observed information)."""
        s = {key: self.weights * value for key, value in self.rows(theta, second=True).second.items()}
        hess = np.zeros((self.n_params, self.n_params))
        a, b = self.n_conv, self.n_conv + self.n_delay
        hess[:a, :a] = _xtdx(self.X, s["eta_eta"], self.X)
        hess[:a, a:b] = _xtdx(self.X, s["eta_u"], self.Xd)
        hess[a:b, a:b] = _xtdx(self.Xd, s["u_u"], self.Xd)
        if self.weibull:
            hess[:a, b] = self.X.T @ s["eta_kappa"]
            hess[a:b, b] = self.Xd.T @ s["u_kappa"]
            hess[b, b] = s["kappa_kappa"].sum()
        hess = -(np.triu(hess) + np.triu(hess, 1).T)
        return hess + np.diag(self._ridge())

    def cluster_scores(self, theta: np.ndarray, members) -> np.ndarray:
        """Per-cluster sums of the per-row scores (the log-likelihood's gradient), (G, P);
        ``members`` (sparse G x n): how many of a row's (weight's) units are in each cluster."""
        r = self.rows(theta, second=False)
        parts = [_scale_rows(self.X, r.d_eta), _scale_rows(self.Xd, r.d_u)]
        if self.weibull:
            parts.append(r.d_kappa[:, None])
        return np.hstack([_dense(members @ part) for part in parts])


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """``a . b`` without BLAS: a threaded ddot is slow on a busy machine."""
    return float(np.sum(a * b))


def _xtdx(a, d: np.ndarray, b) -> np.ndarray:
    """``A^T diag(d) B`` for dense or sparse A, B."""
    return _dense(a.T @ _scale_rows(b, d))


def _scale_rows(x, d: np.ndarray):
    return x.multiply(d[:, None]).tocsr() if sparse.issparse(x) else x * d[:, None]


def _dense(x) -> np.ndarray:
    return x.toarray() if sparse.issparse(x) else np.asarray(x)


def newton_polish(lik: Likelihood, theta: np.ndarray, free: np.ndarray,
                  max_steps: int = 20) -> tuple[np.ndarray, int]:
    """Newton steps in the ``free`` parameters from ``theta`` (halved until the objective
    falls, up to its rounding error), until the Newton decrement is at the objective's
    rounding level."""
    f, grad = lik.nll_grad(theta)
    steps = 0
    for _ in range(max_steps):
        step = np.zeros_like(theta)
        try:
            step[free] = np.linalg.solve(lik.hessian(theta)[np.ix_(free, free)], grad[free])
        except np.linalg.LinAlgError:
            break
        decrement = float(grad @ step)
        if not (np.all(np.isfinite(step)) and decrement > 0.0):
            break  # not a descent direction: leave theta as L-BFGS-B left it
        noise = 1e-12 * max(1.0, abs(f))               # rounding error of the summed objective
        if decrement < noise:                           # within rounding of the optimum:
            theta, steps = theta - step, steps + 1      # one last full step, then stop
            break
        t = 1.0
        while t > 1e-8:
            f_new, g_new = lik.nll_grad(theta - t * step)
            if np.isfinite(f_new) and f_new <= f - 1e-4 * t * decrement + noise:
                break
            t /= 2.0
        else:
            break
        theta, f, grad = theta - t * step, f_new, g_new
        steps += 1
    return theta, steps


def inverse(hess: np.ndarray) -> np.ndarray:
    """Inverse of the observed information (pseudo-inverse where singular)."""
    try:
        return np.linalg.inv(hess)
    except np.linalg.LinAlgError:
        return np.linalg.pinv(hess)
