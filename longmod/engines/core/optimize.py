"""Optimise the (RE)ML objective over a structure's covariance parameters.

Newton-Raphson with the analytic Hessian comes first
(:mod:`longmod.engines.core.information`): after :data:`FISHER_FIRST` Fisher
scoring iterations (expected information), each iteration takes the observed
information when it is positive definite and the expected information
otherwise or when the Newton step does not decrease -2 log L, with a
backtracking line search. In the unconstrained optimisation scale ``theta`` the
Hessian is ``D' (d2F/dV2) D`` with ``D = dV/dtheta``; the second-derivative term
``sum G * d2V/dtheta2`` is added for structures whose covariance is non-linear
in its natural parameters (finite differences of the analytic first
derivatives) and left out for the linear ones (us, cs, toep, ind, ri, ris),
where it is ``sum_c (d(-2l)/dphi_c) d2phi_c/dtheta2`` and vanishes at the
optimum, so the convergence stays quadratic.

When Newton does not converge, a fallback sequence (L-BFGS-B, then BFGS, then
Nelder-Mead) is tried until one ends with a small gradient, and Newton then
polishes the optimum. All share a deterministic budget of objective evaluations
(:data:`MAX_EVALUATIONS`), so a surface that cannot be optimised (e.g. an
unstructured covariance with more parameters than the data support) ends in a
non-converged fit with a warning within a bounded time. Everything that happened
is returned as data (:class:`OptResult`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import optimize

from longmod.engines.core.covariance import Structure, jacobian
from longmod.engines.core.likelihood import Evaluation, objective
from longmod.engines.core.ops import ops

#: Optimisers tried in order until one converges ("Newton": analytic Hessian, Fisher scoring fallback).
OPTIMIZERS: tuple[str, ...] = ("Newton", "L-BFGS-B", "BFGS", "Nelder-Mead")
GRAD_TOL = 1e-4  # on d(-2 log L)/d theta, absolute
#: Objective evaluations shared by the optimisers before the fit is declared non-converged.
#: Converging fits use far fewer (Newton: one per iteration plus line-search halvings).
MAX_EVALUATIONS = 10000
#: Newton iterations: as the first optimiser, and as the polish after a fallback optimiser.
NEWTON_ITERATIONS = 40  # converging fits take 4-15 (measured); more means a crawl towards a boundary
POLISH_ITERATIONS = 20
#: Newton iterations that try the expected information (Fisher scoring) before the observed one:
#: far from the optimum scoring steps are steadier (measured: 6-8 instead of 9-11 evaluations on
#: the benchmark MMRMs, 8 instead of 10 at 20 visits), near it Newton converges quadratically.
FISHER_FIRST = 3


class _BudgetSpent(Exception):
    """Raised inside the objective when the evaluation budget is used up."""


@dataclass
class OptResult:
    """Outcome of the covariance optimisation."""

    theta: np.ndarray
    phi: np.ndarray
    value: float
    evaluation: Evaluation
    converged: bool
    optimizer: str
    iterations: int
    gradient_norm: float
    warnings: list[str] = field(default_factory=list)
    evaluations: int = 0  # objective evaluations used by the optimisers


def _funcs(data, s: Structure, reml: bool):
    t = data.t
    K = data.K

    def sig(th):
        return s.sigma(s.to_phi(th, K), t)

    def jac(th):
        if s.dsigma_theta is not None:
            return s.dsigma_theta(np.real(th), t)
        return jacobian(sig, th)

    def f(th):
        v, g, _ = objective(data, sig, jac, np.asarray(th, float), reml)
        if not np.isfinite(v):
            return 1e300, np.zeros(len(th))
        return v, g

    return sig, jac, f


_LINEAR: dict = {}


def linear_in_phi(s: Structure, t: np.ndarray, K: int) -> bool:
    """Whether the structure's covariance is linear in its natural parameters (constant dS/dphi); cached."""
    key = (s.name, K, np.asarray(t, float).tobytes())
    if key in _LINEAR:
        return _LINEAR[key]
    q = s.n_par(K)
    rng = np.random.default_rng(0)

    def sig(phi):
        return s.sigma(phi, t)

    phi0 = np.real(s.to_phi(s.start(np.linspace(1.0, 2.0, K)).astype(complex), K))
    j0 = jacobian(sig, phi0)
    j1 = jacobian(sig, phi0 * (1.0 + 0.05 * rng.random(q)) + 1e-3)
    out = all(np.allclose(a, b, rtol=1e-12, atol=1e-14) for a, b in zip(j0, j1))
    if len(_LINEAR) > 256:
        _LINEAR.clear()
    _LINEAR[key] = out
    return out


def second_term(jac, x: np.ndarray, G: np.ndarray, trG: float) -> np.ndarray:
    """``C_ab = sum G * d2S/dx_a dx_b + trG d2nugget/dx_a dx_b`` by central differences of the analytic ``jac``."""
    q = len(x)
    C = np.zeros((q, q))
    for b in range(q):
        h = 1e-5 * max(1.0, abs(x[b]))
        xp, xm = x.copy(), x.copy()
        xp[b] += h
        xm[b] -= h
        sp, npl = jac(xp)
        sm, nm = jac(xm)
        C[:, b] = (np.einsum("akl,kl->a", sp - sm, G) + (npl - nm) * trG) / (2 * h)
    return 0.5 * (C + C.T)


def _log_cholesky_start(data, s: Structure, r: np.ndarray, pos: np.ndarray) -> np.ndarray | None:
    """theta from the pairwise covariance of OLS residuals, for a structure parameterised by log-Cholesky.

    The unstructured covariance is usually parameterised by the Cholesky factor with log
    diagonal; when ``s`` reproduces the moment estimate S0 from that theta exactly, Newton
    starts there (measured: 2-3 fewer iterations than from variances only). None otherwise.
    """
    K = data.K
    if s.n_par(K) != K * (K + 1) // 2 or len(r) == 0:
        return None
    R = np.zeros((data.n_subjects, K))
    M = np.zeros((data.n_subjects, K))
    _, subj = np.unique(data.subject_of_row, return_inverse=True)
    R[subj, pos] = r
    M[subj, pos] = 1.0
    cnt = M.T @ M
    if np.any(cnt < 2):
        return None
    S0 = (R.T @ R) / cnt
    w, U = np.linalg.eigh(S0)
    S0 = (U * np.maximum(w, 1e-3 * np.max(np.diag(S0)))) @ U.T
    L = np.linalg.cholesky(S0)
    i, j = np.tril_indices(K)
    order = sorted(range(len(i)), key=lambda m: (i[m], j[m]))
    th = np.array([np.log(L[i[m], j[m]]) if i[m] == j[m] else L[i[m], j[m]] for m in order])
    S, nug = s.sigma(s.to_phi(th.astype(complex), K), data.t)
    if float(np.real(nug)) == 0.0 and np.allclose(np.real(S), S0, rtol=1e-8, atol=1e-10 * np.max(np.diag(S0))):
        return th
    return None


def start_values(data, s: Structure) -> np.ndarray:
    """Start from per-position variances of OLS residuals (or their covariance, see :func:`_log_cholesky_start`)."""
    beta = np.linalg.lstsq(data.X, data.y, rcond=None)[0]
    r = data.y - data.X @ beta
    v = np.full(data.K, np.var(r) if len(r) else 1.0)
    pos = data.position_of_row() if hasattr(data, "position_of_row") else None
    if pos is None:
        return s.start(v)
    th = _log_cholesky_start(data, s, r, pos)
    if th is not None:
        return th
    for k in range(data.K):
        sel = pos == k
        if sel.sum() > 1:
            v[k] = max(np.mean(r[sel] ** 2), 1e-8 * (np.var(data.y) + 1e-12))
    return s.start(v)


class _Problem:
    """The objective with its analytic derivatives, counting evaluations against a budget."""

    def __init__(self, data, s: Structure, reml: bool, budget: int):
        self.data, self.s, self.reml = data, s, reml
        self.sig, self.jac, self.fg = _funcs(data, s, reml)
        self.ops = ops(data)
        self.linear = linear_in_phi(s, data.t, data.K)
        self.budget = int(budget)
        self.best_v, self.best_x, self.best_out = np.inf, None, None

    def eval(self, x):
        """Objective, gradient and evaluation at ``x`` (one evaluation of the budget)."""
        if self.budget <= 0:
            raise _BudgetSpent
        self.budget -= 1
        v, g, ev = objective(self.data, self.sig, self.jac, np.asarray(x, float), self.reml)
        if not np.isfinite(v):
            v, g = 1e300, np.zeros(len(x))
        if v < self.best_v:
            self.best_v, self.best_x, self.best_out = v, np.array(x, float), (v, g, ev)
        return v, g, ev

    def tracked(self, x):
        v, g, _ = self.eval(x)
        return v, g

    def hessians(self, x, ev, kinds=("observed", "expected")) -> dict[str, np.ndarray]:
        """Observed and/or expected Hessian of -2 log L in ``theta`` at ``x`` (``ev`` evaluated there)."""
        dS, dn = self.jac(x)
        C = None
        if not self.linear and "observed" in kinds:
            G, trG = self.ops.gradient_weights(self.data, ev, self.reml)
            C = second_term(self.jac, np.asarray(x, float), G, trG)
        return self.ops.information(self.data, ev, dS, dn, self.reml, C, kinds)


def _converged_newton(g: np.ndarray, dec: float, v: float) -> bool:
    """Gradient below 1e-7, or a Newton decrement at the rounding level of -2 log L."""
    return float(np.max(np.abs(g))) < 1e-7 or dec < 1e-14 * max(1.0, abs(v))


def _decrement(H: np.ndarray, g: np.ndarray) -> float:
    try:
        return float(g @ np.linalg.solve(H, g)) if np.all(np.linalg.eigvalsh(H) > 0) else np.inf
    except np.linalg.LinAlgError:
        return np.inf


def newton(prob: _Problem, x: np.ndarray, max_iter: int) -> tuple[np.ndarray, int, bool, str]:
    """Newton-Raphson (observed information; Fisher scoring when not PD or when its step fails).

    Returns the last point, the iterations taken, whether the Newton criterion was met and a note.
    """
    v, g, ev = prob.eval(x)
    if v >= 1e299:
        return x, 0, False, "start value infeasible"
    for it in range(max_iter):
        if float(np.max(np.abs(g))) < 1e-7:
            return x, it, True, ""
        order = ("expected", "observed") if it < FISHER_FIRST else ("observed", "expected")
        H: dict[str, np.ndarray] = {}
        accepted = False
        for kind in order:
            if kind not in H:
                H.update(prob.hessians(x, ev, (kind,)))
            Hk = H[kind]
            try:
                cf = np.linalg.cholesky(Hk)
            except np.linalg.LinAlgError:
                continue
            step = np.linalg.solve(cf.T, np.linalg.solve(cf, g))
            dec = float(g @ step)
            if kind == "observed" and _converged_newton(g, dec, v):
                return x, it, True, ""
            lam = 1.0
            while lam > 1e-6:
                x2 = x - lam * step
                v2, g2, ev2 = prob.eval(x2)
                if v2 < 1e299 and (v2 <= v - 1e-4 * lam * dec
                                   or (v2 <= v + 1e-12 * max(1.0, abs(v)) and np.max(np.abs(g2)) < np.max(np.abs(g)))):
                    x, v, g, ev = x2, v2, g2, ev2
                    accepted = True
                    break
                lam /= 2
            if accepted:
                break
        if not accepted:
            # at the rounding level of -2 log L no step can decrease it: converged if the
            # Newton decrement is that small (predicted decrease < 1e-9 relative)
            if "observed" not in H:
                H.update(prob.hessians(x, ev, ("observed",)))
            ok = _decrement(H["observed"], g) < 2e-9 * max(1.0, abs(v))
            return x, it, ok, "" if ok else "no step decreased -2 log L"
    return x, max_iter, False, f"{max_iter} iterations reached"


def fit_covariance(
    data, s: Structure, reml: bool, theta0: np.ndarray | None = None, max_evaluations: int = MAX_EVALUATIONS
) -> OptResult:
    """Maximise the (RE)ML likelihood over the covariance parameters of ``s``.

    ``max_evaluations`` bounds the objective evaluations of all optimisers; when it
    is spent the best point so far is kept, the fit is marked non-converged and
    the warning says so.

    Returns
    -------
    OptResult
        ``theta`` (optimisation scale), ``phi`` (natural parameters), the
        objective value (-2 log L), the evaluation at the optimum and the
        convergence record.

    Examples
    --------
    >>> import numpy as np
    >>> from longmod.engines.core.covariance import get_structure
    >>> from longmod.engines.core.likelihood import build_long_data
    >>> rng = np.random.default_rng(0)
    >>> y = rng.normal(size=90) + np.repeat(rng.normal(size=30), 3)
    >>> data = build_long_data(y, np.ones((90, 1)), np.repeat(np.arange(30), 3), np.tile(np.arange(3), 30),
    ...                        np.arange(1.0, 4.0))
    >>> res = fit_covariance(data, get_structure("cs"), reml=True)
    >>> res.converged, res.optimizer, res.evaluations < 20
    (True, 'Newton', True)
    """
    prob = _Problem(data, s, reml, max_evaluations)
    x = start_values(data, s) if theta0 is None else np.asarray(theta0, float)
    warnings: list[str] = []
    used: list[str] = []
    iters, spent, polished, newton_ok = 0, False, 0, False
    try:
        for name in OPTIMIZERS:
            used.append(name)
            if name == "Newton":
                x, it, newton_ok, note = newton(prob, x, NEWTON_ITERATIONS)
                iters += it
                if newton_ok:
                    break
                warnings.append(f"Newton stopped ({note}); trying the next optimiser")
                if prob.best_x is not None:
                    x = prob.best_x
                continue
            if name == "Nelder-Mead":
                r = optimize.minimize(lambda z: prob.tracked(z)[0], x, method=name,
                                      options={"maxiter": 20000, "xatol": 1e-10, "fatol": 1e-12})
            elif name == "L-BFGS-B":
                r = optimize.minimize(prob.tracked, x, jac=True, method=name,
                                      options={"maxiter": 5000, "ftol": 1e-15, "gtol": 1e-9, "maxcor": 30})
            else:
                r = optimize.minimize(prob.tracked, x, jac=True, method=name, options={"maxiter": 5000, "gtol": 1e-7})
            iters += int(getattr(r, "nit", 0) or 0)
            if np.isfinite(r.fun) and r.fun < 1e299:
                x = r.x
            v, g, _ = prob.eval(x)
            if np.max(np.abs(g)) < max(1.0, 1e-4 * abs(v)):  # close enough for the Newton polish
                break
            warnings.append(f"{name} stopped with max|gradient| {np.max(np.abs(g)):.3g} ({r.message}); "
                            "trying the next optimiser")
        if not newton_ok:
            x, polished, newton_ok, _ = newton(prob, x, POLISH_ITERATIONS)
            iters += polished
    except _BudgetSpent:
        spent = True
        if prob.best_x is not None:
            x = prob.best_x
        warnings.append(f"{used[-1]} stopped: the budget of {int(max_evaluations)} objective evaluations "
                        "(max_evaluations) is spent; keeping the best point found")
    evaluations = int(max_evaluations) - prob.budget
    if prob.best_x is not None and np.array_equal(prob.best_x, x) and prob.best_out[2].ok:
        v, g, ev = prob.best_out
    else:
        v, g, ev = objective(data, prob.sig, prob.jac, np.asarray(x, float), reml)
    gnorm = float(np.max(np.abs(g))) if np.isfinite(v) else np.inf
    converged = bool(not spent and np.isfinite(v) and v < 1e299 and gnorm < GRAD_TOL * max(1.0, abs(v) * 1e-3))
    if not converged:
        warnings.append(f"optimum not confirmed: max|gradient| = {gnorm:.3g}")
    label = " -> ".join(used)
    if used != ["Newton"]:
        label += f" + {polished} Newton steps"
    return OptResult(x, np.real(s.to_phi(x.astype(complex), data.K)).astype(float), float(v), ev,
                     converged, label, iters, gnorm, warnings, evaluations=evaluations)
