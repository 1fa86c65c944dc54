"""Multiple imputation (MAR and reference-based) and conditional-mean imputation of an MMRM, analysed by ANCOVA.

Two routes from the same imputation model (an MMRM with unstructured
``Sigma``, :class:`~longmod.estimands.wide.WideData`):

* :func:`multiple_imputation` - ``M`` datasets, each completed by a draw from
  the conditional normal distribution of the missing visits given the
  observed ones, under one parameter draw (Bayesian posterior or approximate
  Bayesian bootstrap, :mod:`longmod.estimands.imputation_params`) and the
  marginal means of the chosen method (MAR, J2R, CR, CIR;
  :mod:`longmod.estimands.reference_based`); each dataset is analysed by
  ANCOVA at the target visit and the results pooled by Rubin's rules with the
  Barnard-Rubin df (:mod:`longmod.estimands.rubin`).
* :func:`conditional_mean_imputation` - Wolbers et al. (2022, Pharm Stat
  21:1246-57): one dataset completed by the conditional *means* under the
  point estimate, analysed by the same ANCOVA; standard error by the
  jackknife over patients (or the bootstrap), each replicate refitting the
  imputation model.

For a linear analysis the MI point estimate converges to the conditional-mean
estimate as ``M`` grows when every imputation uses the same parameters; the
tests check this agreement within Monte Carlo error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from longmod.estimands.ancova_batch import ancova_batch
from longmod.estimands.descriptions import estimand_description
from longmod.estimands.imputation_params import Fitter, ImputationParams
from longmod.estimands.mvn import fill_conditional
from longmod.estimands.reference_based import apply_strategy, reference_means
from longmod.estimands.rubin import pool_scalar
from longmod.estimands.wide import WideData
from longmod.results.schema import effects_frame, t_interval

ENGINE = "longmod-mi"


def complete_datasets(
    wide: WideData, params: ImputationParams, methods: np.ndarray, *, seed: int | None
) -> np.ndarray:
    """Completed outcome matrices, one per parameter draw.

    Parameters
    ----------
    wide : WideData
        Data after :func:`~longmod.estimands.reference_based.apply_strategy`.
    params : ImputationParams
        ``M`` draws (or one point estimate).
    methods : numpy.ndarray
        Method per patient.
    seed : int or None
        None: conditional means (no random draw); else the seed of the
        conditional-normal draws.

    Returns
    -------
    numpy.ndarray
        ``(M, n, K)``; observed values are unchanged.
    """
    if params.columns != wide.columns or params.visits != wide.visits:
        raise ValueError("imputation parameters belong to another design (columns or visits differ)")
    rng = None if seed is None else np.random.default_rng(seed)
    out = np.empty((params.m, wide.n, wide.n_visits))
    for m in range(params.m):
        b = params.beta[m]
        mu = reference_means(wide.X_own @ b, wide.X_ref @ b, wide.ice_index, methods, wide.active)
        out[m] = fill_conditional(wide.y, mu, params.sigma[m], rng)
    return out


def _ancova(wide: WideData, values: np.ndarray, covariates: Sequence[str], level: float):
    """:func:`longmod.engines.ancova.fit_ancova` of ``values`` on the arm and ``covariates``."""
    from longmod.engines.ancova import fit_ancova

    tr = wide.spec.treatment
    miss = [c for c in covariates if c not in wide.patients.columns]
    if miss:
        raise ValueError(f"ANCOVA covariate(s) {', '.join(miss)} not in the patients table; "
                         f"columns: {', '.join(map(str, wide.patients.columns))}")
    d = wide.patients[[tr.variable, *covariates]].copy()
    d[tr.variable] = d[tr.variable].astype(str)
    d["__outcome"] = values
    return fit_ancova(d, treatment=tr, outcome="__outcome", covariates=list(covariates), level=level)


def _target(wide: WideData, target_visit: str | None) -> int:
    if target_visit is None:
        return wide.n_visits - 1
    if str(target_visit) not in wide.visits:
        raise ValueError(f"target visit {target_visit!r} is not among the visits {list(wide.visits)}")
    return wide.visits.index(str(target_visit))


def _method_label(strategy: str | Mapping[str, str]) -> str:
    if isinstance(strategy, str):
        return strategy
    return ", ".join(f"{k}: {v}" for k, v in sorted(dict(strategy).items()))


def _base_row(wide, k, strategy, analysis, estimand, outcome) -> dict:
    import longmod

    from longmod.estimands.descriptions import ESTIMANDS

    info = estimand_description(analysis) if analysis else None
    label, assumes = (info.label, info.assumes) if info else (None, "")
    if info is None and not isinstance(strategy, str):
        # one method per event kind: name each and say what each assumes
        prefix = "mi_" if analysis.startswith("mi") else "cm_"
        parts = {kind: ESTIMANDS[prefix + m] for kind, m in sorted(dict(strategy).items())}
        label = "Per event: " + "; ".join(f"{kind}: {e.label}" for kind, e in parts.items())
        assumes = " ".join(f"After {kind}: {e.assumes}" for kind, e in parts.items())
    return {
        "analysis": analysis, "estimand": estimand or label, "outcome": outcome or wide.spec.outcome,
        "day": float(wide.visit_days[k]) if wide.visit_days is not None else np.nan,
        "contrast": wide.spec.treatment.label, "engine": ENGINE, "engine_version": longmod.__version__,
        "visit": wide.visits[k], "method": _method_label(strategy), "assumes": assumes,
    }


def multiple_imputation(
    wide: WideData,
    params: ImputationParams,
    *,
    strategy: str | Mapping[str, str] = "mar",
    covariates: Sequence[str] = (),
    target_visit: str | None = None,
    seed: int = 0,
    level: float = 0.95,
    analysis: str | None = None,
    estimand: str | None = None,
    outcome: str | None = None,
) -> pd.DataFrame:
    """MI of the missing visits, ANCOVA at ``target_visit`` per dataset, Rubin's rules.

    Parameters
    ----------
    wide : WideData
        From :func:`~longmod.estimands.wide.wide_data` (with the ICE columns
        for reference-based methods).
    params : ImputationParams
        ``M >= 2`` draws (Bayesian posterior or approximate Bayesian
        bootstrap) fitted on the data *after* the strategy's removal of
        post-ICE values (none in data that stop at the ICE).
    strategy : str or mapping
        ``"mar"``, ``"j2r"``, ``"cr"``, ``"cir"``, or event kind -> method.
    covariates : sequence of str
        ANCOVA covariates (columns of ``wide.patients``), e.g. the baseline
        value and the stratification factors.
    target_visit : str, optional
        Visit analysed (default: the last).
    seed : int
        Seed of the conditional-normal draws.
    level : float
    analysis, estimand, outcome : str, optional
        Labels of the row; default ``analysis = "mi_<strategy>"`` and the
        estimand label of :data:`longmod.estimands.descriptions.ESTIMANDS`.

    Returns
    -------
    pandas.DataFrame
        One row, common schema (``estimate`` = pooled difference active -
        reference, ``std_error`` = sqrt(T), ``df`` = Barnard-Rubin) plus
        ``visit``, ``method``, ``assumes``, ``imputation`` (``"multiple"``),
        ``draws_source``, ``df_method``, ``n_imputations``, ``ubar``,
        ``between_var``, ``total_var``, ``riv``, ``lambda``, ``fmi``,
        ``df_complete``, ``n_imputed`` (imputed values at the target visit),
        ``n_removed_post_ice``, ``warnings``.

    Examples
    --------
    See ``docs/estimands_mi.md`` (executed at docs build time).
    """
    if params.m < 2:
        raise ValueError(f"multiple imputation needs at least 2 parameter draws, got {params.m}")
    data, methods = apply_strategy(wide, strategy)
    k = _target(data, target_visit)
    done = complete_datasets(data, params, methods, seed=seed)
    fits = ancova_batch(data.patients, done[:, :, k].T, treatment=data.spec.treatment, covariates=covariates,
                        level=level)
    pooled = pool_scalar(fits.estimate, fits.std_error, fits.df, level)
    name = analysis or (f"mi_{strategy}" if isinstance(strategy, str) else "mi_mixed")
    notes = list(params.notes)
    if data.removed:
        notes.append(f"{data.removed} value(s) observed after a non-MAR intercurrent event set to missing "
                     "(fit the imputation model without them: apply_strategy first)")
    row = {
        **_base_row(data, k, strategy, name, estimand, outcome), **pooled.as_row(),
        "n_obs": fits.n_obs, "n_patients": data.n, "imputation": "multiple", "draws_source": params.source,
        "n_imputed": int(np.isnan(data.y[:, k]).sum()), "n_removed_post_ice": data.removed,
        "warnings": "; ".join(notes), **{f"imputation_{key}": v for key, v in dict(params.diagnostics).items()},
    }
    return effects_frame([row])


def conditional_mean_estimate(
    wide: WideData, fitter: Fitter, methods: np.ndarray, k: int, covariates: Sequence[str], level: float = 0.95
):
    """ANCOVA on the data completed by conditional means under ``fitter``'s estimate (one replicate)."""
    from longmod.estimands.imputation_params import point_params

    p = point_params(wide, fitter)
    done = complete_datasets(wide, p, methods, seed=None)[0]
    return _ancova(wide, done[:, k], covariates, level)


def conditional_mean_imputation(
    wide: WideData,
    fitter: Fitter,
    *,
    strategy: str | Mapping[str, str] = "mar",
    covariates: Sequence[str] = (),
    target_visit: str | None = None,
    se: str = "jackknife",
    n_boot: int = 200,
    seed: int = 0,
    level: float = 0.95,
    analysis: str | None = None,
    estimand: str | None = None,
    outcome: str | None = None,
) -> pd.DataFrame:
    """Conditional-mean imputation (Wolbers et al. 2022) with a jackknife or bootstrap standard error.

    Parameters
    ----------
    wide, strategy, covariates, target_visit, level, estimand, outcome
        As in :func:`multiple_imputation`.
    fitter : Fitter
        Fits the imputation model (e.g.
        :func:`~longmod.estimands.imputation_params.engine_fitter` for REML by
        the native engine, :func:`~longmod.estimands.imputation_params.em_fitter`
        for fast ML); called once, then once per jackknife/bootstrap replicate.
    se : {"jackknife", "bootstrap"}
        Jackknife over patients (``n`` refits) or the bootstrap stratified by
        arm (``n_boot`` refits); the interval is normal-based in both cases
        (``df = inf``), as in rbmi.
    n_boot : int
    seed : int
        Seed of the bootstrap samples.
    analysis : str, optional
        Default ``"cm_<strategy>"``.

    Returns
    -------
    pandas.DataFrame
        One row, common schema plus ``visit``, ``method``, ``assumes``,
        ``imputation`` (``"conditional_mean"``), ``df_method``
        (``"asymptotic"``), ``se_method``, ``n_replicates``,
        ``n_failed_replicates``, ``n_imputed``, ``n_removed_post_ice``,
        ``warnings``.
    """
    if se not in ("jackknife", "bootstrap"):
        raise ValueError(f"conditional-mean imputation: se must be 'jackknife' or 'bootstrap', got {se!r}")
    data, methods = apply_strategy(wide, strategy)
    k = _target(data, target_visit)
    full = conditional_mean_estimate(data, fitter, methods, k, covariates, level)
    reps, failed = [], 0
    if se == "jackknife":
        idx = np.arange(data.n)
        samples = [np.delete(idx, i) for i in range(data.n)]
    else:
        rng = np.random.default_rng(seed)
        arms = [np.flatnonzero(data.active), np.flatnonzero(~data.active)]
        samples = [np.concatenate([rng.choice(a, len(a), replace=True) for a in arms]) for _ in range(n_boot)]
    for rows in samples:
        sub = data.subset(rows)
        try:
            reps.append(conditional_mean_estimate(sub, fitter, methods[rows], k, covariates, level).estimate)
        except (ValueError, RuntimeError, np.linalg.LinAlgError):
            failed += 1
    reps = np.asarray(reps)
    if len(reps) < 2:
        raise RuntimeError(f"conditional-mean imputation: {failed} of {len(samples)} {se} refits failed")
    if se == "jackknife":
        n = len(reps)
        std_error = float(np.sqrt((n - 1) / n * np.sum((reps - reps.mean()) ** 2)))
    else:
        std_error = float(reps.std(ddof=1))
    lo, hi, p = t_interval(full.estimate, std_error, np.inf, level)
    name = analysis or (f"cm_{strategy}" if isinstance(strategy, str) else "cm_mixed")
    notes = []
    if failed:
        notes.append(f"{failed} {se} refit(s) failed and were left out")
    if data.removed:
        notes.append(f"{data.removed} value(s) observed after a non-MAR intercurrent event set to missing")
    row = {
        **_base_row(data, k, strategy, name, estimand, outcome), "estimate": full.estimate,
        "std_error": std_error, "df": np.inf, "conf_low": lo, "conf_high": hi, "p_value": p,
        "n_obs": full.n_obs, "n_patients": data.n, "imputation": "conditional_mean", "df_method": "asymptotic",
        "se_method": se, "n_replicates": len(reps), "n_failed_replicates": failed,
        "n_imputed": int(np.isnan(data.y[:, k]).sum()), "n_removed_post_ice": data.removed,
        "warnings": "; ".join(notes),
    }
    return effects_frame([row])
