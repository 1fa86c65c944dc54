"""Assemble a FitResult from posterior draws (shared by every Bayesian model)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from longmod.results.fit import PARAM_COLUMNS, Convergence, FitResult

ENGINE_NAME = "pymc"


def params_table(draws: np.ndarray, columns: Sequence[str]) -> pd.DataFrame:
    """Posterior mean, SD and 95% CrI per coefficient (``draws``: chains x draws x terms).

    ``df``, ``statistic`` and ``p_value`` are NaN (not defined for a posterior).
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


def covariance_table(idata: Any, names: Sequence[str]) -> pd.DataFrame:
    """Posterior means of scalar/vector variance parameters named in ``names``."""
    rows = []
    for name in names:
        if name not in idata.posterior:
            continue
        v = idata.posterior[name].values
        m = v.reshape(v.shape[0] * v.shape[1], -1).mean(axis=0)
        if m.size == 1:
            rows.append({"parameter": name, "estimate": float(m[0])})
        else:
            rows.extend({"parameter": f"{name}[{i}]", "estimate": float(x)} for i, x in enumerate(m))
    return pd.DataFrame(rows, columns=["parameter", "estimate"])


def fit_result(
    *,
    spec: Any,
    effects: pd.DataFrame,
    params: pd.DataFrame,
    covariance: pd.DataFrame,
    idata: Any,
    info: Any,
    settings: Any,
    runtime: Mapping[str, Any],
    versions: Mapping[str, str],
    data_sha256: str,
    n_obs: int,
    n_patients: int,
    priors_used: Mapping[str, Any],
    warnings: Sequence[str],
    model: str,
    extras: Mapping[str, Any] | None = None,
    covariance_names: Sequence[str] = (),
) -> FitResult:
    """Build the :class:`FitResult`.

    ``convergence.converged`` is False when any effect row or any
    (co)variance parameter in ``covariance_names`` fails the diagnostic
    thresholds; every flag is listed in ``convergence.warnings`` and in
    ``extras["parameter_flags"]``.
    """
    from longmod.engines.bayes.summaries import parameter_flags

    pflags = parameter_flags(idata, list(covariance_names))
    flags = [f for f in effects["diagnostic_flags"].tolist() if f] + pflags
    all_warnings = list(dict.fromkeys([*warnings, *info.warnings, *runtime.get("warnings", []),
                                       *(f"day {d}: {f}" for d, f in zip(effects["day"], effects["diagnostic_flags"]) if f),
                                       *pflags]))
    provenance = {
        **{f"{k}_version": v for k, v in versions.items()},
        "spec_hash": spec.spec_hash(),
        "data_sha256": data_sha256,
        "seed": settings.seed,
        "sampler": info.backend,
        "chains": settings.chains,
        "draws": settings.draws,
        "tune": settings.tune,
        "pytensor_compiledir": runtime.get("compiledir", ""),
        "pytensor_blas": runtime.get("blas", ""),
    }
    return FitResult(
        engine=ENGINE_NAME,
        engine_version=versions.get("pymc", ""),
        effects=effects,
        params=params,
        covariance=covariance,
        fit_stats={"method": f"bayes-{model}", "n_obs": int(n_obs), "n_patients": int(n_patients),
                   "compile_seconds": info.compile_seconds, "sample_seconds": info.sample_seconds,
                   "compile_cached": info.compile_cached},
        convergence=Convergence(converged=not flags, optimizer=info.backend, iterations=settings.draws,
                                warnings=tuple(all_warnings)),
        provenance=provenance,
        extras={"inference_data": idata, "priors": dict(priors_used), "sampler_settings": settings,
                "parameter_flags": pflags,
                **dict(extras or {})},
    )
