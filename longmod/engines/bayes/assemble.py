"""Assemble effect rows and a FitResult from a Bayesian fit (shared by every Bayesian model)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from longmod.results.fit import PARAM_COLUMNS, Convergence, FitResult
from longmod.results.schema import effects_frame

ENGINE_NAME = "pymc"


def params_table(draws: np.ndarray, columns: Sequence[str]) -> pd.DataFrame:
    """Posterior mean, SD and 95% CrI per coefficient (``draws``: chains x draws x terms).

    ``df``, ``statistic`` and ``p_value`` are NaN (not defined for a posterior).

    Examples
    --------
    >>> import numpy as np
    >>> t = params_table(np.random.default_rng(0).normal(size=(2, 500, 1)), ["x"])
    >>> list(t.columns[:3]), bool(abs(t.loc[0, "estimate"]) < 0.2)
    (['term', 'estimate', 'std_error'], True)
    """
    flat = np.asarray(draws).reshape(-1, len(columns))
    q = np.quantile(flat, [0.025, 0.975], axis=0)
    return pd.DataFrame({
        "term": list(columns),
        "estimate": flat.mean(axis=0),
        "std_error": flat.std(axis=0, ddof=1),
        "df": np.nan,
        "statistic": np.nan,
        "p_value": np.nan,
        "conf_low": q[0],
        "conf_high": q[1],
    }, columns=list(PARAM_COLUMNS))


def covariance_table(idata: Any) -> pd.DataFrame:
    """Posterior means of the covariance table's parameters (``cov_params``, named as in the native engine).

    Examples
    --------
    >>> import arviz as az, numpy as np
    >>> draws = np.stack([np.full((2, 100), 40.0), np.full((2, 100), 0.5)], axis=-1)
    >>> idata = az.from_dict(posterior={"cov_params": draws}, coords={"cov_param": ["sigma_d7", "rho"]},
    ...                      dims={"cov_params": ["cov_param"]})
    >>> covariance_table(idata)
      parameter  estimate
    0  sigma_d7      40.0
    1       rho       0.5
    >>> covariance_table(az.from_dict(posterior={"mu": np.zeros((2, 10))})).empty  # ANCOVA: no covariance table
    True
    """
    if "cov_params" not in idata.posterior:
        return pd.DataFrame(columns=["parameter", "estimate"])
    da = idata.posterior["cov_params"]
    names = [str(x) for x in da.coords["cov_param"].values]
    return pd.DataFrame({"parameter": names, "estimate": da.values.reshape(-1, len(names)).mean(axis=0)})


def effect_rows(spec: Any, design: Any, idata: Any, info: Any, *, counts: Sequence[tuple[int, int]],
                estimand: str | None, rope: tuple[float, float] | None, higher_is_better: bool,
                data_label: str | None, model: str, day: float | None = None) -> pd.DataFrame:
    """One common-schema row per visit from the posterior of ``effect``.

    ``n_obs`` / ``n_patients`` are the counts *at the visit* (``counts``).
    ``sampler`` is the backend that sampled and ``sampler_fallback`` why it is
    not the requested one ("" when it is); ``treatment_prior`` the prior of
    the contrast.

    Examples
    --------
    >>> rows = effect_rows(spec, design, idata, info, counts=[(40, 40)] * 3)  # doctest: +SKIP
    >>> rows[["visit", "estimate", "conf_low", "conf_high", "sampler"]]  # doctest: +SKIP
    """
    from longmod.engines.bayes.runtime import versions
    from longmod.engines.bayes.summaries import count_divergences, summarise_draws

    eff = np.asarray(idata.posterior["effect"].values, dtype=float)
    eff = eff.reshape(eff.shape[0], eff.shape[1], -1)
    mcid = 20.0 if spec.mcid is None else float(spec.mcid)
    ndiv = count_divergences(idata)
    pymc_version = versions()["pymc"]
    treatment_prior = (design.treatment_prior_on == "contrast" and idata.attrs.get("treatment_prior")) or ""
    rows = []
    for k, v in enumerate(design.visits):
        summ = summarise_draws(eff[..., k], mcid=mcid, divergences=ndiv, rope=rope, higher_is_better=higher_is_better)
        d = design.days[k]
        rows.append({
            "analysis": spec.name, "estimand": estimand, "outcome": spec.outcome,
            "day": day if (v == "" and day is not None) else (None if np.isnan(d) else float(d)),
            "contrast": spec.treatment.label, "df": np.nan, "p_value": np.nan, "engine": ENGINE_NAME,
            "engine_version": pymc_version, "n_obs": counts[k][0], "n_patients": counts[k][1], **summ,
            **({"visit": v} if v != "" else {}), "model": model, "sampler": info.backend,
            "sampler_fallback": info.fallback, "treatment_prior": treatment_prior, "data_label": data_label,
        })
    return effects_frame(rows)


def fit_result(
    *,
    spec: Any,
    effects: pd.DataFrame,
    params: pd.DataFrame,
    idata: Any,
    info: Any,
    settings: Any,
    runtime: Mapping[str, Any],
    data_sha256: str,
    n_obs: int,
    n_patients: int,
    priors: Any,
    design: Any,
    model: str,
    extras: Mapping[str, Any] | None = None,
    diagnostics: Sequence[str] = (),
) -> FitResult:
    """Build the :class:`FitResult`.

    ``convergence.converged`` is False when any effect row or any reported
    posterior variable in ``diagnostics`` fails the diagnostic thresholds,
    or when the sampler fell back from the requested one (the declared method
    did not run); every reason is in ``convergence.warnings``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from longmod.engines.bayes.ancova import fit_bayes_ancova
    >>> from longmod.spec.model import ModelSpec, Treatment
    >>> rng = np.random.default_rng(0)
    >>> d = pd.DataFrame({"patient_id": range(40), "arm": ["control", "active"] * 20, "baseline": rng.normal(150, 40, 40)})
    >>> d["change"] = 20 * (d.arm == "active") - 0.3 * d.baseline + rng.normal(0, 50, 40)
    >>> spec = ModelSpec(name="ancova", outcome="change", fixed="arm + baseline", subject="patient_id",
    ...                  engine="pymc", sampler={"chains": 2, "draws": 300}, treatment=Treatment("arm", "control", "active"))
    >>> res = fit_bayes_ancova(spec, d, day=7)  # every Bayesian fit ends in fit_result  # doctest: +SKIP
    >>> res.convergence.converged  # doctest: +SKIP
    True
    >>> sorted(k for k in res.provenance if k.endswith("_version"))[:2]  # doctest: +SKIP
    ['arviz_version', 'longmod_version']
    """
    from longmod.engines.bayes.runtime import versions as stack_versions
    from longmod.engines.bayes.summaries import parameter_flags

    versions = stack_versions()
    pflags = parameter_flags(idata, [n for n in diagnostics if n != "effect"])
    flags = [f for f in effects["diagnostic_flags"].tolist() if f] + pflags
    n_dropped = int(getattr(design.prep, "n_dropped", 0) or 0)
    dropped = [f"{n_dropped} row(s) with missing values dropped (complete cases)"] if n_dropped else []
    all_warnings = list(dict.fromkeys([
        *dropped, *design.warnings, *runtime.get("warnings", []), *info.warnings,
        *(f"{'day ' + format(d, 'g') + ': ' if d == d and d is not None else ''}{f}"
          for d, f in zip(effects["day"], effects["diagnostic_flags"]) if f),
        *pflags]))
    provenance = {
        **{f"{k}_version": v for k, v in versions.items()},
        "spec_hash": spec.spec_hash(),
        "data_sha256": data_sha256,
        "rows_dropped_missing": n_dropped,
        "seed": settings.seed,
        "sampler": info.backend,
        "sampler_requested": info.requested,
        "sampler_fallback": info.fallback,
        "chains": settings.chains,
        "draws": settings.draws,
        "tune": settings.tune,
        "mass_matrix": info.mass_matrix,
        "pytensor_compiledir": runtime.get("compiledir", ""),
        "pytensor_blas": runtime.get("blas", ""),
    }
    return FitResult(
        engine=ENGINE_NAME,
        engine_version=versions.get("pymc", ""),
        effects=effects,
        params=params,
        covariance=covariance_table(idata),
        fit_stats={"method": f"bayes-{model}", "n_obs": int(n_obs), "n_patients": int(n_patients),
                   **info.fit_stats()},
        convergence=Convergence(converged=not flags and not info.fallback, optimizer=info.backend,
                                iterations=settings.draws, warnings=tuple(all_warnings)),
        provenance=provenance,
        extras={"inference_data": idata, "priors": priors.as_dict(), "sampler_settings": settings,
                "parameter_flags": pflags, "design": design, "treatment_prior_on": design.treatment_prior_on,
                **dict(extras or {})},
    )
