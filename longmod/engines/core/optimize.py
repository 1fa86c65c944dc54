"""Optimise the (RE)ML objective over a structure's covariance parameters.

A fallback sequence (L-BFGS-B, then BFGS, then Nelder-Mead) is tried until
one ends with a small gradient; a few Newton steps (numerical Hessian of the
analytic gradient) then polish the optimum, because REML surfaces are flat
and SAS-level agreement needs a tight optimum. The optimisers share a
deterministic budget of objective evaluations (:data:`MAX_EVALUATIONS`), so a
surface that cannot be optimised (e.g. an unstructured covariance with more
parameters than the data support) ends in a non-converged fit with a warning
within a bounded time rather than after minutes of Nelder-Mead. Everything
that happened is returned as data (:class:`OptResult`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import optimize

from longmod.engines.core.covariance import Structure, jacobian
from longmod.engines.core.likelihood import Evaluation, LongData, evaluate, objective

#: Optimisers tried in order until one converges.
OPTIMIZERS: tuple[str, ...] = ("L-BFGS-B", "BFGS", "Nelder-Mead")
GRAD_TOL = 1e-4  # on d(-2 log L)/d theta, absolute
#: Objective evaluations shared by the optimisers before the fit is declared non-converged.
#: Converging fits use fewer (measured: fev_data us 41; STROMA PaO2/FiO2 us over 10 visits, 55 parameters, 3,315).
MAX_EVALUATIONS = 10000


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
    evaluations: int = 0  # objective evaluations used by the optimiser sequence


def _funcs(data: LongData, s: Structure, reml: bool):
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


def _num_hess(fg, x, h=1e-5):
    q = len(x)
    H = np.zeros((q, q))
    for a in range(q):
        e = np.zeros(q)
        e[a] = h * max(1.0, abs(x[a]))
        H[:, a] = (fg(x + e)[1] - fg(x - e)[1]) / (2 * e[a])
    return 0.5 * (H + H.T)


def start_values(data: LongData, s: Structure) -> np.ndarray:
    """Start from per-position variances of OLS residuals."""
    beta = np.linalg.lstsq(data.X, data.y, rcond=None)[0]
    r = data.y - data.X @ beta
    v = np.full(data.K, np.var(r) if len(r) else 1.0)
    pos = np.concatenate([np.broadcast_to(p.idx, p.rows.shape).ravel() for p in data.patterns])
    rows = np.concatenate([p.rows.ravel() for p in data.patterns])
    for k in range(data.K):
        sel = rows[pos == k]
        if len(sel) > 1:
            v[k] = max(np.mean(r[sel] ** 2), 1e-8 * (np.var(data.y) + 1e-12))
    return s.start(v)


def fit_covariance(
    data: LongData, s: Structure, reml: bool, theta0: np.ndarray | None = None, max_evaluations: int = MAX_EVALUATIONS
) -> OptResult:
    """Maximise the (RE)ML likelihood over the covariance parameters of ``s``.

    ``max_evaluations`` bounds the objective evaluations of the optimiser
    sequence (the Newton polish is bounded separately, 8 steps); when it is
    spent the best point so far is kept without polishing, the fit is marked
    non-converged and the warning says so.

    Returns
    -------
    OptResult
        ``theta`` (optimisation scale), ``phi`` (natural parameters), the
        objective value (-2 log L), the evaluation at the optimum and the
        convergence record.
    """
    sig, jac, fg = _funcs(data, s, reml)
    budget = [int(max_evaluations)]  # evaluations left for the optimisers
    best = {"v": np.inf, "x": None}

    def tracked(z):
        if budget[0] <= 0:
            raise _BudgetSpent
        budget[0] -= 1
        v, g = fg(z)
        if v < best["v"]:
            best["v"], best["x"] = v, np.array(z, float)
        return v, g

    x = start_values(data, s) if theta0 is None else np.asarray(theta0, float)
    warnings: list[str] = []
    used, iters, spent = "", 0, False
    for name in OPTIMIZERS:
        try:
            if name == "Nelder-Mead":
                r = optimize.minimize(lambda z: tracked(z)[0], x, method=name,
                                      options={"maxiter": 20000, "xatol": 1e-10, "fatol": 1e-12})
            elif name == "L-BFGS-B":
                r = optimize.minimize(tracked, x, jac=True, method=name,
                                      options={"maxiter": 5000, "ftol": 1e-15, "gtol": 1e-9, "maxcor": 30})
            else:
                r = optimize.minimize(tracked, x, jac=True, method=name, options={"maxiter": 5000, "gtol": 1e-7})
        except _BudgetSpent:
            spent = True
            used = name if not used else f"{used} -> {name}"
            if best["x"] is not None:
                x = best["x"]
            warnings.append(f"{name} stopped: the budget of {int(max_evaluations)} objective evaluations "
                            "(max_evaluations) is spent; keeping the best point found")
            break
        except (ValueError, FloatingPointError, np.linalg.LinAlgError) as exc:  # pragma: no cover - defensive
            warnings.append(f"{name} failed: {exc}")
            continue
        iters += int(getattr(r, "nit", 0) or 0)
        used = name if not used else f"{used} -> {name}"
        if np.isfinite(r.fun) and r.fun < 1e299:
            x = r.x
        v, g = fg(x)
        if np.max(np.abs(g)) < max(1.0, 1e-4 * abs(v)):  # close enough for the Newton polish
            break
        warnings.append(f"{name} stopped with max|gradient| {np.max(np.abs(g)):.3g} ({r.message}); "
                        "trying the next optimiser")
    newton = 0
    for _ in range(0 if spent else 8):  # Newton polish (numerical Hessian of the analytic gradient); none once the budget is spent
        v, g = fg(x)
        if np.max(np.abs(g)) < 1e-7:
            break
        H = _num_hess(fg, x)
        try:
            step = np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            break
        if not np.all(np.linalg.eigvalsh(H) > 0):
            break
        lam = 1.0
        while lam > 1e-4:
            v2, g2 = fg(x - lam * step)
            if v2 <= v + 1e-10 and np.max(np.abs(g2)) <= np.max(np.abs(g)):
                x = x - lam * step
                iters += 1
                newton += 1
                break
            lam /= 2
        else:
            break
    v, g = fg(x)
    gnorm = float(np.max(np.abs(g)))
    converged = bool(not spent and np.isfinite(v) and v < 1e299 and gnorm < GRAD_TOL * max(1.0, abs(v) * 1e-3))
    if not converged:
        warnings.append(f"optimum not confirmed: max|gradient| = {gnorm:.3g}")
    S, nug = sig(x.astype(complex))
    ev = evaluate(data, np.real(S), float(np.real(nug)), reml)
    return OptResult(x, np.real(s.to_phi(x.astype(complex), data.K)).astype(float), float(v), ev,
                     converged, f"{used} + {newton} Newton steps", iters, gnorm, warnings,
                     evaluations=int(max_evaluations) - budget[0])
