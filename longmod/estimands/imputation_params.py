"""Parameter draws of the imputation model: Bayesian posterior, approximate Bayesian bootstrap, point estimates.

An imputation needs, per imputed dataset, a fixed-effects vector ``beta`` and
a covariance ``Sigma`` of the MMRM. Three sources:

* :func:`params_from_bayes` - draws of the Bayesian MMRM's posterior
  (:func:`longmod.engines.bayes.fit_bayes` with ``covariance = "us"``: its
  InferenceData holds ``beta`` by term, ``visit_sd`` and ``visit_corr``), so
  that the imputations are draws from the posterior predictive distribution;
* :func:`bootstrap_params` - the approximate Bayesian bootstrap (rbmi's
  ``method_approxbayes``; Little and Rubin 2002, 10.2.3): each draw is the
  estimate of the model refitted on a bootstrap sample of patients
  (stratified by arm);
* :func:`params_from_fit` / :func:`point_params` - the point estimate
  (conditional-mean imputation).

Refits use a *fitter*: a callable ``WideData -> (beta, Sigma)``;
:func:`engine_fitter` wraps :func:`longmod.engines.registry.fit_model`
(REML by the spec's engine), :func:`em_fitter` the fast ML ECM of
:mod:`longmod.estimands.mvn_em`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from longmod.estimands.wide import WideData

#: ``WideData -> (beta (p,), Sigma (K, K))`` in the WideData's column and visit order.
Fitter = Callable[[WideData], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class ImputationParams:
    """Draws (or a point estimate) of the imputation model's parameters.

    Attributes
    ----------
    beta : numpy.ndarray
        ``(M, p)`` in the order of ``columns``.
    sigma : numpy.ndarray
        ``(M, K, K)`` in the order of ``visits``.
    columns, visits : tuple of str
    source : str
        ``"bayes_posterior"``, ``"approx_bayes_bootstrap"`` or ``"point"``.
    notes : tuple of str
        What happened on the way (failed refits, thinning, diagnostics).
    diagnostics : mapping
        E.g. ``r_hat``, ``divergences`` of the Bayesian fit, ``failed_fits``.
    """

    beta: np.ndarray
    sigma: np.ndarray
    columns: tuple[str, ...]
    visits: tuple[str, ...]
    source: str
    notes: tuple[str, ...] = ()
    diagnostics: Mapping[str, float] = field(default_factory=dict)

    @property
    def m(self) -> int:
        """Number of draws."""
        return self.beta.shape[0]


def _align_beta(names, values: np.ndarray, wide: WideData, where: str) -> np.ndarray:
    """Reorder coefficient(s) named ``names`` (last axis of ``values``) to ``wide.columns``."""
    names = [str(n) for n in names]
    pos = {n: j for j, n in enumerate(names)}
    miss = [c for c in wide.columns if c not in pos]
    extra = [n for n in names if n not in wide.columns]
    if miss or extra:
        raise ValueError(f"{where}: the fitted model's terms do not match the imputation design; "
                         f"missing {miss}, unexpected {extra} (same formula, levels and visits needed)")
    out = values[..., [pos[c] for c in wide.columns]]
    if not np.isfinite(out).all():
        raise ValueError(f"{where}: a coefficient is not estimable (aliased/NaN); simplify the imputation model")
    return out


def params_from_bayes(fit, wide: WideData, n_draws: int | None = None) -> ImputationParams:
    """Posterior draws of ``beta`` and ``Sigma`` from a Bayesian MMRM fit.

    Parameters
    ----------
    fit : FitResult
        From :func:`longmod.engines.bayes.fit_bayes` with ``covariance =
        "us"`` on the data of ``wide`` (same formula, visits in the same
        order: give the spec ``levels = {visit: wide.visits}``).
    wide : WideData
    n_draws : int, optional
        Number of draws to keep, evenly spaced over the chains' pooled
        draws (default: all).

    Returns
    -------
    ImputationParams
        ``source = "bayes_posterior"``; ``diagnostics`` holds the fit's
        maximum ``r_hat``, minimum ``ess_bulk`` and ``divergences``.

    Raises
    ------
    ValueError
        Not an MMRM fit, visits in another order, or terms that differ.
    """
    idata = fit.extras.get("inference_data") if hasattr(fit, "extras") else None
    where = "Bayesian imputation draws"
    if idata is None or "visit_sd" not in idata.posterior or "visit_corr" not in idata.posterior:
        raise ValueError(f"{where}: the fit has no visit_sd/visit_corr posterior; fit a Bayesian MMRM "
                         "(covariance = 'us') with longmod.engines.bayes.fit_bayes")
    fitted_visits = [str(v) for v in fit.effects["visit"]]
    if tuple(fitted_visits) != wide.visits:
        raise ValueError(f"{where}: the fit's visits {fitted_visits} are not the imputation visits {list(wide.visits)} "
                         "(in this order); set spec.levels[visit] to the visit order")
    post = idata.posterior
    b = post["beta"]
    names = b.coords[b.dims[-1]].values
    beta = _align_beta(names, b.values.reshape(-1, b.shape[-1]), wide, where)
    sd = post["visit_sd"].values.reshape(-1, wide.n_visits)
    corr = post["visit_corr"].values.reshape(-1, wide.n_visits, wide.n_visits)
    sigma = corr * sd[:, :, None] * sd[:, None, :]
    total = beta.shape[0]
    notes = []
    if n_draws is not None:
        if not 2 <= n_draws <= total:
            raise ValueError(f"{where}: n_draws must be between 2 and the {total} posterior draws, got {n_draws}")
        keep = np.round(np.linspace(0, total - 1, n_draws)).astype(int)
        beta, sigma = beta[keep], sigma[keep]
        notes.append(f"{n_draws} of {total} posterior draws, evenly spaced")
    eff = fit.effects
    diag = {
        "r_hat": float(np.nanmax(eff["r_hat"])) if "r_hat" in eff else np.nan,
        "ess_bulk": float(np.nanmin(eff["ess_bulk"])) if "ess_bulk" in eff else np.nan,
        "divergences": float(np.nanmax(eff["divergences"])) if "divergences" in eff else np.nan,
    }
    if not fit.convergence.converged:
        notes.append("Bayesian imputation model flagged by its diagnostics: " + "; ".join(fit.convergence.warnings))
    return ImputationParams(beta, sigma, wide.columns, wide.visits, "bayes_posterior", tuple(notes), diag)


def params_from_fit(fit, wide: WideData) -> ImputationParams:
    """Point estimate (``M = 1``) from a frequentist MMRM fit of the native engine.

    ``fit.params`` gives ``beta`` (by term) and
    ``fit.extras["covariance_matrix"]`` the estimated ``Sigma`` (by visit).
    """
    where = "point-estimate imputation"
    cov = fit.extras.get("covariance_matrix")
    if cov is None:
        raise ValueError(f"{where}: the fit has no covariance_matrix; fit an MMRM with the native engine")
    labels = [str(v) for v in cov.index]
    miss = [v for v in wide.visits if v not in labels]
    if miss or len(labels) != wide.n_visits:
        raise ValueError(f"{where}: fitted visits {labels} differ from the imputation visits {list(wide.visits)}")
    sigma = cov.loc[list(wide.visits), list(wide.visits)].to_numpy(float)
    beta = _align_beta(fit.params["term"], fit.params["estimate"].to_numpy(float), wide, where)
    notes = () if fit.convergence.converged else ("imputation model did not converge: "
                                                   + "; ".join(fit.convergence.warnings),)
    return ImputationParams(beta[None], sigma[None], wide.columns, wide.visits, "point", notes)


def point_params(wide: WideData, fitter: Fitter) -> ImputationParams:
    """Point estimate (``M = 1``) from ``fitter`` on ``wide``."""
    beta, sigma = fitter(wide)
    return ImputationParams(np.asarray(beta)[None], np.asarray(sigma)[None], wide.columns, wide.visits, "point")


def em_fitter(tol: float = 1e-9, max_iter: int = 20000) -> Fitter:
    """ML fitter by ECM (:func:`longmod.estimands.mvn_em.fit_mvn_em`); raises if it does not converge.

    Examples
    --------
    >>> f = em_fitter()
    >>> callable(f)
    True
    """
    from longmod.estimands.mvn_em import fit_mvn_em

    def fit(wide: WideData) -> tuple[np.ndarray, np.ndarray]:
        r = fit_mvn_em(wide.y, wide.X_own, tol=tol, max_iter=max_iter)
        if not r.converged:
            raise RuntimeError(f"ML MMRM (ECM) did not converge in {max_iter} iterations")
        return r.beta, r.sigma

    return fit


def engine_fitter(engine: str = "native") -> Fitter:
    """Fitter by :func:`longmod.engines.registry.fit_model` with the WideData's spec (its ``method``).

    The df option is set to ``"residual"`` for the refit (it changes no
    estimate and skips the Kenward-Roger computations). A fit that did not
    converge raises, so that a bootstrap draw is redrawn and counted.
    """

    def fit(wide: WideData) -> tuple[np.ndarray, np.ndarray]:
        from longmod.engines.registry import fit_model

        spec = wide.spec.replace(df="residual", levels={**dict(wide.spec.levels), wide.spec.visit: list(wide.visits)})
        ids = [f"b{i:05d}" for i in range(wide.n)]  # a bootstrap sample repeats patients
        res = fit_model(spec, wide.to_long(ids=ids), engine=engine)
        if not res.convergence.converged:
            raise RuntimeError("imputation model did not converge: " + "; ".join(res.convergence.warnings))
        p = params_from_fit(res, wide)
        return p.beta[0], p.sigma[0]

    return fit


def bootstrap_params(
    wide: WideData, fitter: Fitter, n_draws: int, *, seed: int, max_failures: int | None = None
) -> ImputationParams:
    """Approximate Bayesian bootstrap: ``fitter`` on ``n_draws`` bootstrap samples of patients.

    Patients are resampled with replacement within each arm (the arm sizes
    are kept). A refit that fails (e.g. a visit without data in the sample)
    is redrawn; the number of failures is in ``diagnostics["failed_fits"]``
    and in ``notes``.

    Parameters
    ----------
    wide : WideData
    fitter : Fitter
    n_draws : int
    seed : int
    max_failures : int, optional
        Give up after this many failed refits (default ``n_draws``).

    Returns
    -------
    ImputationParams
        ``source = "approx_bayes_bootstrap"``.
    """
    if n_draws < 2:
        raise ValueError(f"approximate Bayesian bootstrap: n_draws must be >= 2, got {n_draws}")
    rng = np.random.default_rng(seed)
    arms = [np.flatnonzero(wide.active), np.flatnonzero(~wide.active)]
    limit = n_draws if max_failures is None else max_failures
    betas, sigmas, failures, last = [], [], 0, ""
    while len(betas) < n_draws:
        rows = np.concatenate([rng.choice(a, size=len(a), replace=True) for a in arms])
        try:
            b, s = fitter(wide.subset(rows))
        except (ValueError, RuntimeError, np.linalg.LinAlgError) as exc:
            failures += 1
            last = str(exc)
            if failures > limit:
                raise RuntimeError(f"approximate Bayesian bootstrap: {failures} refits failed (last: {last})") from exc
            continue
        betas.append(np.asarray(b, dtype=float))
        sigmas.append(np.asarray(s, dtype=float))
    notes = (f"{failures} bootstrap refit(s) failed and were redrawn (last: {last})",) if failures else ()
    return ImputationParams(np.array(betas), np.array(sigmas), wide.columns, wide.visits, "approx_bayes_bootstrap",
                            notes, {"failed_fits": float(failures)})
