"""Bayesian ANCOVA: one row per patient, ``outcome ~ N(X beta, sigma^2)``.

Priors: see :mod:`longmod.engines.bayes.priors` (clinical-scale defaults,
never tuned to the outcome's SD in the data). Non-intercept columns are
centred internally for sampling efficiency; reported coefficients are on the
original (R ``model.matrix``) parameterisation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from longmod.engines.bayes import runtime
from longmod.engines.bayes.assemble import ENGINE_NAME, covariance_table, fit_result, params_table
from longmod.engines.bayes.design import Prepared, prepare
from longmod.engines.bayes.priors import centre_columns, resolve_priors
from longmod.engines.bayes.summaries import count_divergences, summarise_draws
from longmod.results.fit import FitResult
from longmod.results.schema import effects_frame


def _build(Xc: np.ndarray, y: np.ndarray, columns: list[str], p: Mapping[str, Any]):
    import pymc as pm
    import pytensor.tensor as pt

    with pm.Model(coords={"term": columns}) as model:
        yd = pm.Data("y", y)
        # X's row count is declared to be y's length (SpecifyShape checks it inside one Op),
        # so the likelihood has a single length. Without this the graph compared X's rows
        # with y's length in an Eq whose operand order came from iterating a set of PyTensor
        # variables (it followed PYTHONHASHSEED): the numba cache key of the logp graph
        # changed from one process to the next and warm runs recompiled it.
        X = pt.specify_shape(pm.Data("X", Xc), (yd.shape[0], None))
        # prior hyper-parameters are data too, so one compiled model serves any priors
        bmu = pm.Data("beta_mu", np.asarray(p["beta_mu"], dtype=float))
        bsd = pm.Data("beta_sigma", np.asarray(p["beta_sigma"], dtype=float))
        ssd = pm.Data("sigma_scale", np.asarray(p["sigma"], dtype=float))
        beta_c = pm.Normal("beta_c", mu=bmu, sigma=bsd, dims="term")
        sigma = pm.HalfNormal("sigma", sigma=ssd)
        pm.Normal("obs", mu=pm.math.dot(X, beta_c), sigma=sigma, observed=yd, shape=yd.shape[0])
    return model


def _data(Xc: np.ndarray, y: np.ndarray, p: Mapping[str, Any]) -> dict[str, np.ndarray]:
    return {"X": Xc, "y": y, "beta_mu": np.asarray(p["beta_mu"], dtype=float),
            "beta_sigma": np.asarray(p["beta_sigma"], dtype=float), "sigma_scale": np.asarray(p["sigma"], dtype=float)}


def _setup(spec: Any, data: pd.DataFrame) -> tuple[Prepared, dict[str, Any], np.ndarray, np.ndarray]:
    has_id = spec.subject in data.columns
    prep = prepare(spec, data, extra=[spec.subject] if has_id else [])
    if has_id and prep.frame[spec.subject].duplicated().any():
        raise ValueError(f"model {spec.name!r}: ANCOVA needs one row per {spec.subject}; found repeated ids")
    p = resolve_priors(spec.priors, prep.columns, prep.treatment_columns, mcid=spec.mcid)
    Xc, means = centre_columns(prep.X, prep.columns)
    return prep, p, Xc, means


def _uncentre(beta_c: np.ndarray, columns: list[str], means: np.ndarray) -> np.ndarray:
    beta = beta_c.copy()
    if "(Intercept)" in columns:
        j = columns.index("(Intercept)")
        beta[..., j] = beta_c[..., j] - beta_c @ means
    return beta


def fit_bayes_ancova(
    spec: Any,
    data: pd.DataFrame,
    *,
    estimand: str | None = None,
    day: float | None = None,
    sampler: Mapping[str, Any] | None = None,
    higher_is_better: bool = True,
    rope: tuple[float, float] | None = None,
    data_label: str | None = None,
) -> FitResult:
    """Fit a Bayesian ANCOVA of ``spec.outcome ~ spec.fixed`` (one row per patient).

    Parameters
    ----------
    spec : ModelSpec
        ``outcome``, ``fixed`` (R syntax, must contain the treatment
        variable), ``subject`` (patient id column), ``treatment``,
        ``levels``, ``mcid`` (default 20), ``priors`` (see
        :mod:`longmod.engines.bayes.priors`), ``sampler`` (keys
        :data:`longmod.engines.bayes.runtime.SAMPLER_KEYS`).
    data : pandas.DataFrame
        One row per patient; not modified. Incomplete rows are dropped and
        reported in ``convergence.warnings``.
    estimand, day : optional
        Labels of the effect row (e.g. ``day=7``).
    sampler : mapping, optional
        Overrides of ``spec.sampler`` (e.g. from the CLI).
    higher_is_better : bool
        Direction of benefit for ``prob_benefit`` / ``prob_mcid``.
    rope : (float, float), optional
        Region of practical equivalence, default ``(-mcid/2, mcid/2)``.
    data_label : str, optional
        E.g. ``"synthetic (pseudo-patient data)"``; copied to the row.

    Returns
    -------
    FitResult
        ``effects``: one row, common schema + :data:`BAYES_COLUMNS` with
        ``estimate`` = posterior mean, ``std_error`` = posterior SD,
        ``conf_low``/``conf_high`` = equal-tailed 95% CrI, ``df`` and
        ``p_value`` NaN, ``engine = "pymc"``, then ``posterior_median``,
        ``ess_tail``, ``mcse_mean``, ``prob_harm``, ``prob_rope``,
        ``rope_low``, ``rope_high``, ``mcid``, ``diagnostics_ok``,
        ``diagnostic_flags``, ``sampler``, ``data_label``.
        ``params``: posterior summaries of every coefficient (R names);
        ``covariance``: ``sigma``; ``convergence.converged`` is False when any
        diagnostic is flagged; ``extras["inference_data"]`` holds the
        InferenceData (``beta`` on the original parameterisation,
        ``beta_c`` with centred covariates), ``extras["priors"]`` the priors
        used.

    Notes
    -----
    Reproducibility: the same ``sampler["seed"]`` (with the same data, priors,
    settings and package versions) gives bit-identical draws in every run, the
    first (compiling) one included; see :mod:`longmod.engines.bayes.runtime`
    ("Reproducibility") for how.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from longmod.spec.model import ModelSpec, Treatment
    >>> rng = np.random.default_rng(0)
    >>> d = pd.DataFrame({"patient_id": range(60), "arm": ["control", "active"] * 30,
    ...                   "baseline": rng.normal(150, 40, 60)})
    >>> d["change"] = 20 * (d.arm == "active") - 0.3 * d.baseline + rng.normal(0, 50, 60)
    >>> spec = ModelSpec(name="ancova", outcome="change", fixed="arm + baseline",
    ...                  subject="patient_id", engine="pymc", sampler={"draws": 500, "chains": 2},
    ...                  treatment=Treatment("arm", "control", "active"))
    >>> res = fit_bayes_ancova(spec, d, day=7)  # doctest: +SKIP
    >>> res.effects[["estimate", "conf_low", "conf_high", "prob_mcid", "diagnostics_ok"]]  # doctest: +SKIP
    """
    info_rt = runtime.configure_pytensor()
    settings = runtime.SamplerSettings.from_mapping(spec.sampler, **dict(sampler or {}))
    prep, p, Xc, means = _setup(spec, data)
    key = ("ancova", tuple(prep.columns))  # data, n and prior values enter through with_data
    idata, info = runtime.sample_model(
        lambda: _build(Xc, prep.y, prep.columns, p), _data(Xc, prep.y, p), settings, cache_key=key
    )
    beta_c = idata.posterior["beta_c"].values  # chains x draws x terms
    beta = _uncentre(beta_c, prep.columns, means)
    idata.posterior["beta"] = idata.posterior["beta_c"].copy(data=beta)
    j = prep.columns.index(prep.treatment_column)
    mcid = 20.0 if spec.mcid is None else float(spec.mcid)
    summ = summarise_draws(beta[..., j], mcid=mcid, divergences=count_divergences(idata), rope=rope,
                           higher_is_better=higher_is_better)
    versions = runtime.versions()
    row = {
        "analysis": spec.name, "estimand": estimand, "outcome": spec.outcome, "day": day,
        "contrast": spec.treatment.label, "df": np.nan, "p_value": np.nan, "engine": ENGINE_NAME,
        "engine_version": versions["pymc"], "n_obs": len(prep.y),
        "n_patients": prep.frame[spec.subject].nunique() if spec.subject in prep.frame else len(prep.y),
        **summ, "sampler": info.backend, "data_label": data_label,
    }
    effects = effects_frame([row])
    return fit_result(
        spec=spec, effects=effects, params=params_table(beta, prep.columns),
        covariance=covariance_table(idata, ["sigma"]), idata=idata, info=info, settings=settings,
        runtime=info_rt, versions=versions, data_sha256=prep.data_sha256, n_obs=len(prep.y),
        n_patients=int(row["n_patients"]), priors_used=p, warnings=prep.warnings, model="ancova",
        covariance_names=["sigma"],
    )


def prior_predictive_ancova(spec: Any, data: pd.DataFrame, *, draws: int = 500, seed: int | None = None) -> Any:
    """Prior predictive draws of the ANCOVA (outcome scale), for prior checks.

    Returns
    -------
    arviz.InferenceData
        Groups ``prior`` (``beta_c``, ``sigma``) and ``prior_predictive``
        (``obs``: draws x patients). Compare e.g. its quantiles with plausible
        clinical values of the outcome.
    """
    runtime.configure_pytensor()
    settings = runtime.SamplerSettings.from_mapping(spec.sampler)
    prep, p, Xc, _ = _setup(spec, data)
    import pymc as pm

    with _build(Xc, prep.y, prep.columns, p):
        return pm.sample_prior_predictive(draws=draws, random_seed=settings.seed if seed is None else seed)
