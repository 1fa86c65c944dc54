"""Bayesian longitudinal models on long data: MMRM (structured covariances) and hierarchical LMM.

* **MMRM** (``spec.covariance`` = a structure of the covariance table with a
  Bayesian prior: ``us``, ``cs``, ``csh``, ``ar1``, ``ar1h``, ``toep``,
  ``toeph``, ``ad``, ``adh``, ``ind``; :mod:`longmod.engines.bayes.covstruct`):
  ``y_i ~ MvNormal(X_i beta, Sigma[o_i, o_i])`` over each patient's observed
  visits ``o_i`` (MAR, as in the frequentist MMRM), one compiled graph for
  every missingness pattern (:mod:`longmod.engines.bayes.mmrm`).
* **LMM** (``"ri"``/``"ris"``): random intercept (and slope on ``spec.time``)
  per patient, LKJ-correlated. ``parametrization="marginal"`` (default)
  integrates the Gaussian random effects out
  (:mod:`longmod.engines.bayes.marginal_lmm`); ``"latent"`` samples them
  (non-centred).

Design and contrast: the frequentist front end
(:func:`longmod.engines.core.prepare.prepare`, ``effect_grid``), re-parametrised
so the per-visit treatment contrasts are parameters
(:mod:`longmod.engines.bayes.design`): the ``treatment`` prior is the prior of
the contrast at every visit. Priors: :mod:`longmod.engines.bayes.priors`.
The InferenceData: :mod:`longmod.engines.bayes.idata`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from longmod.engines.bayes import runtime
from longmod.engines.bayes.assemble import effect_rows, fit_result, params_table
from longmod.engines.bayes.covstruct import PARAMETRISATIONS, check_structure, sigma_draws
from longmod.engines.bayes.design import BayesDesign, bayes_design, visit_positions
from longmod.engines.bayes.idata import REPORTED, finish, sample_prior, simulate_mvn
from longmod.engines.bayes.lmm import LMM_PARAMETRIZATIONS, lmm_model
from longmod.engines.bayes.mmrm import build_mmrm, mmrm_arrays, patient_loglik
from longmod.engines.bayes.priors import ResolvedPriors, resolve_priors
from longmod.engines.bayes.rvs import PriorVariables
from longmod.results.fit import FitResult

#: Random-effects structures of the Bayesian LMM.
LMM_COVARIANCES: tuple[str, ...] = ("ri", "ris")
#: Draws of the ``prior`` / ``prior_predictive`` groups.
PRIOR_DRAWS: int = 500


def model_data(model: Any) -> dict[str, np.ndarray]:
    """Current values of a PyMC model's data containers (for nutpie's ``with_data``).

    Examples
    --------
    >>> model_data(prepare_mmrm(spec, long_data)["build"]())  # doctest: +SKIP
    """
    return {d.name: np.asarray(d.get_value()) for d in model.data_vars}


def _setup(spec: Any, data: pd.DataFrame) -> tuple[BayesDesign, ResolvedPriors]:
    design = bayes_design(spec, data, treatment_declared="treatment" in dict(spec.priors or {}))
    pri = resolve_priors(spec.priors, design.columns, contrast_columns=design.contrast_columns, mcid=spec.mcid)
    return design, pri


def _families(design: BayesDesign, pri: ResolvedPriors) -> tuple:
    coefs = tuple(pri.coefficients[design.theta_names[k]].family for k in design.coef_idx)
    return (pri.intercept.family, pri.treatment.family, coefs, pri.sigma.family, pri.random_intercept_sd.family,
            pri.random_slope_sd.family)


def _design_key(design: BayesDesign) -> tuple:
    return (len(design.theta_names), design.intercept, tuple(design.effect_idx.tolist()),
            tuple(design.coef_idx.tolist()), tuple(design.effect_map.tolist()), len(design.visits))


def prepare_mmrm(spec: Any, data: pd.DataFrame) -> dict[str, Any]:
    """Everything an MMRM fit needs before sampling (design, priors, arrays, the model builder, cache key).

    Examples
    --------
    >>> m = prepare_mmrm(spec, long_data)  # doctest: +SKIP
    >>> m["structure"].name, m["key"][0]  # doctest: +SKIP
    ('us', 'mmrm')
    """
    structure = check_structure(spec.covariance, spec.name)
    design, pri = _setup(spec, data)
    prep = design.prep
    pos, t = visit_positions(spec, prep)
    K = len(design.visits)
    arrays = mmrm_arrays(design.Z, prep.y, prep.subject, pos, K)
    xarrays = mmrm_arrays(np.asarray(prep.X, dtype=float), prep.y, prep.subject, pos, K)

    def build() -> Any:
        return build_mmrm(design, arrays, structure, t, PriorVariables(pri))

    key = ("mmrm", structure.name, tuple(np.round(t, 12).tolist()), _design_key(design), _families(design, pri),
           len(arrays.gap_patient))
    return {"structure": structure, "design": design, "priors": pri, "t": t, "arrays": arrays, "xarrays": xarrays,
            "build": build, "key": key}


def _mmrm_loglik_and_predictive(m: Mapping[str, Any], beta: np.ndarray, phi: np.ndarray) -> np.ndarray:
    xa = m["xarrays"]
    Sigma = sigma_draws(m["structure"], phi, m["t"])
    mu = np.einsum("nkp,...p->...nk", xa.Z, beta)
    return patient_loglik(xa, mu, Sigma)


def _mmrm_prior_predictive(m: Mapping[str, Any], prior: Any, seed: int) -> np.ndarray:
    xa = m["xarrays"]
    beta = prior["beta"].values[0]
    Sigma = sigma_draws(m["structure"], prior["cov_params"].values[0], m["t"])
    mu = np.einsum("nkp,dp->dnk", xa.Z, beta)
    ysim = simulate_mvn(mu, Sigma, seed)
    return ysim[:, xa.row_patient, xa.row_visit]


def fit_bayes_longitudinal(
    spec: Any,
    data: pd.DataFrame,
    *,
    estimand: str | None = None,
    sampler: Mapping[str, Any] | None = None,
    higher_is_better: bool = True,
    rope: tuple[float, float] | None = None,
    data_label: str | None = None,
    parametrization: str | None = None,
    prior_draws: int = PRIOR_DRAWS,
) -> FitResult:
    """Fit a Bayesian MMRM (a structure of the covariance table) or LMM (``"ri"``/``"ris"``).

    Parameters
    ----------
    spec : ModelSpec
        ``outcome``, ``fixed`` (e.g. ``"arm * visit + baseline"``),
        ``subject``, ``visit`` (required), ``time`` (required for ``"ris"``),
        ``covariance``, ``treatment``, ``levels``, ``mcid``, ``priors``,
        ``sampler``.
    data : pandas.DataFrame
        Long data, one row per patient and visit; not modified. Rows with
        missing values are dropped (counted in ``convergence.warnings``).
    estimand, sampler, higher_is_better, rope, data_label
        As in :func:`longmod.engines.bayes.ancova.fit_bayes_ancova`.
    parametrization : {"marginal", "latent"}, optional
        LMM only: integrate the random effects out (default) or sample them.
    prior_draws : int
        Draws of the ``prior`` and ``prior_predictive`` groups (0 = none).

    Returns
    -------
    FitResult
        ``effects``: one row per visit (``day`` and ``visit`` from the front
        end's grid), the common schema + posterior summaries and diagnostics,
        ``sampler``/``sampler_fallback``, ``treatment_prior``.
        ``params``: posterior summaries of ``beta``; ``covariance``: of the
        table's ``phi``. ``extras["inference_data"]`` (see
        :mod:`longmod.engines.bayes.idata`), ``extras["contrast_vectors"]``,
        ``extras["design"]``.

    Examples
    --------
    >>> from longmod.spec.model import ModelSpec
    >>> spec = ModelSpec(name="mmrm", outcome="pf", fixed="arm * visit + baseline", subject="patient_id",
    ...                  visit="visit", covariance="ar1", engine="pymc", sampler={"chains": 2})
    >>> res = fit_bayes_longitudinal(spec, long_data)  # doctest: +SKIP
    >>> res.effects[["visit", "estimate", "conf_low", "conf_high", "prob_mcid"]]  # doctest: +SKIP
    """
    if not spec.visit:
        raise ValueError(f"model {spec.name!r}: a Bayesian LMM/MMRM needs spec.visit")
    lmm = spec.covariance in LMM_COVARIANCES
    param = LMM_PARAMETRIZATIONS[0] if parametrization is None else parametrization
    if param not in LMM_PARAMETRIZATIONS:
        raise ValueError(f"model {spec.name!r}: parametrization {param!r} is not supported; choose one of "
                         f"{', '.join(LMM_PARAMETRIZATIONS)}")
    if not lmm and param != "marginal":
        raise ValueError(f"model {spec.name!r}: the Bayesian MMRM is always marginal; parametrization {param!r} "
                         f"applies to covariance ri/ris only")
    if spec.covariance == "ris" and not spec.time:
        raise ValueError(f"model {spec.name!r}: covariance 'ris' (random slope) needs spec.time")
    info_rt = runtime.configure_pytensor()
    settings = runtime.SamplerSettings.from_mapping(spec.sampler, **dict(sampler or {}))
    if lmm:
        m = lmm_model(spec, data, param, _setup)
    else:
        m = prepare_mmrm(spec, data)
    design: BayesDesign = m["design"]
    model = m["build"]()
    idata, info = runtime.sample_model(m["build"], model_data(model), settings, cache_key=m["key"], model=model)
    post = idata.posterior
    beta = post["beta"].values
    if lmm:
        loglik = m["loglik"](beta, post)
    else:
        loglik = _mmrm_loglik_and_predictive(m, beta, post["cov_params"].values)
    prior = pp = None
    if prior_draws:
        prior = sample_prior(model, prior_draws, settings.seed)
        pp = m["prior_predictive"](prior, settings.seed) if lmm else _mmrm_prior_predictive(m, prior, settings.seed)
    prep = design.prep
    subjects = pd.unique(prep.frame[spec.subject]).astype(str)
    keep = (*REPORTED, *(PARAMETRISATIONS[spec.covariance].diagnostics if not lmm else m["diagnostics"]))
    idata = finish(idata, keep=keep, loglik=loglik, patients=list(subjects), y=prep.y,
                   obs_coords={spec.subject: prep.frame[spec.subject].astype(str).tolist(),
                               spec.visit: prep.frame[spec.visit].astype(str).tolist()},
                   prior=prior, prior_predictive=pp,
                   attrs={"treatment_prior": m["priors"].treatment.describe(),
                          "treatment_prior_on": design.treatment_prior_on,
                          "covariance_structure": spec.covariance})
    model_name = "lmm" if lmm else "mmrm"
    vis = prep.frame[spec.visit].astype(str)
    counts = [(int((vis == v).sum()), int(prep.frame.loc[vis == v, spec.subject].nunique())) for v in design.visits]
    effects = effect_rows(spec, design, idata, info, counts=counts, estimand=estimand, rope=rope,
                          higher_is_better=higher_is_better, data_label=data_label, model=model_name)
    return fit_result(
        spec=spec, effects=effects, params=params_table(beta, design.columns), idata=idata, info=info,
        settings=settings, runtime=info_rt, data_sha256=prep.data_sha256, n_obs=len(prep.y),
        n_patients=len(subjects), priors=m["priors"], design=design, model=model_name,
        extras={"contrast_vectors": pd.DataFrame(design.contrast, index=list(design.visits), columns=design.columns),
                "parametrization": param},
        diagnostics=keep,
    )


def fit_bayes(spec: Any, data: pd.DataFrame, **kwargs: Any) -> FitResult:
    """Dispatch: ANCOVA when ``spec.visit`` is None, else MMRM/LMM by ``spec.covariance``.

    A residual covariance structure without a visit column (``sp_exp(day | id)``) is an
    error naming the supported structures, never a silent ANCOVA.

    Keyword arguments are passed on (see :func:`fit_bayes_longitudinal` and
    :func:`longmod.engines.bayes.ancova.fit_bayes_ancova`; ``day`` only for
    ANCOVA).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from longmod.spec.model import ModelSpec, Treatment
    >>> rng = np.random.default_rng(0)
    >>> d = pd.DataFrame({"patient_id": range(40), "arm": ["control", "active"] * 20, "baseline": rng.normal(150, 40, 40)})
    >>> d["change"] = 20 * (d.arm == "active") - 0.3 * d.baseline + rng.normal(0, 50, 40)
    >>> spec = ModelSpec(name="ancova", outcome="change", fixed="arm + baseline", subject="patient_id",
    ...                  engine="pymc", sampler={"chains": 2, "draws": 300}, treatment=Treatment("arm", "control", "active"))
    >>> res = fit_bayes(spec, d, day=7)  # no visit: the Bayesian ANCOVA  # doctest: +SKIP
    >>> res.effects[["estimate", "conf_low", "conf_high", "r_hat"]]  # doctest: +SKIP
    >>> fit_bayes(spec.replace(covariance="sp_exp"), d)  # a time structure needs a visit: refused, never an ANCOVA
    Traceback (most recent call last):
    ...
    ValueError: model 'ancova': covariance 'sp_exp' has no Bayesian prior yet; the Bayesian MMRM supports us, ...
    """
    from longmod.spec.model_formula import TIME_STRUCTURES

    if spec.visit is None and spec.covariance in TIME_STRUCTURES:
        check_structure(spec.covariance, spec.name)  # sp_exp over a time: a clear error, not an ANCOVA
    if spec.visit is None:
        from longmod.engines.bayes.ancova import fit_bayes_ancova

        return fit_bayes_ancova(spec, data, **kwargs)
    return fit_bayes_longitudinal(spec, data, **kwargs)
