"""Bayesian ANCOVA: one row per patient, ``outcome ~ N(X beta, sigma^2)``.

The design comes from the engines' front end
(:func:`longmod.engines.core.prepare.prepare`; the treatment contrast from
``effect_grid``), re-parametrised so the treatment contrast is the parameter
``effect`` (its prior is the declared ``treatment`` prior:
:mod:`longmod.engines.bayes.design`). Priors: see
:mod:`longmod.engines.bayes.priors` (clinical-scale defaults, never tuned to
the outcome's SD in the data). Non-intercept columns are centred internally;
``beta`` is reported on the R ``model.matrix`` parametrisation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from longmod.engines.bayes import runtime
from longmod.engines.bayes.assemble import effect_rows, fit_result, params_table
from longmod.engines.bayes.design import BayesDesign, bayes_design
from longmod.engines.bayes.idata import REPORTED, finish, sample_prior
from longmod.engines.bayes.priors import ResolvedPriors, resolve_priors
from longmod.engines.bayes.rvs import PriorVariables
from longmod.results.fit import FitResult


def _build(design: BayesDesign, y: np.ndarray, pri: ResolvedPriors) -> Any:
    import pymc as pm
    import pytensor.tensor as pt

    from longmod.engines.bayes.mmrm import assemble_theta

    rv = PriorVariables(pri)
    with pm.Model(coords={"term": design.columns, "cov_param": ["residual"]}) as model:
        yd = pm.Data("y", y)
        # X's row count is declared to be y's length (SpecifyShape checks it inside one Op),
        # so the likelihood has a single length. Without this the graph compared X's rows
        # with y's length in an Eq whose operand order came from iterating a set of PyTensor
        # variables (it followed PYTHONHASHSEED): the numba cache key of the logp graph
        # changed from one process to the next and warm runs recompiled it.
        X = pt.specify_shape(pm.Data("X", design.Z), (yd.shape[0], None))
        theta = assemble_theta(design, rv)
        sigma = rv.scale("sigma")
        pm.Deterministic("cov_params", sigma[None] ** 2, dims="cov_param")  # the table's "ind" structure
        pm.Normal("obs", mu=pt.dot(X, theta), sigma=sigma, observed=yd, shape=yd.shape[0])
    return model


def _setup(spec: Any, data: pd.DataFrame) -> tuple[BayesDesign, ResolvedPriors]:
    if spec.subject not in data.columns:
        raise ValueError(f"model {spec.name!r}: column {spec.subject!r} (spec.subject, one row per patient) is not "
                         f"in the data; available: {', '.join(map(str, data.columns))}")
    if data[spec.subject].duplicated().any():
        raise ValueError(f"model {spec.name!r}: ANCOVA needs one row per {spec.subject}; found repeated ids")
    design = bayes_design(spec, data, treatment_declared="treatment" in dict(spec.priors or {}))
    pri = resolve_priors(spec.priors, design.columns, contrast_columns=design.contrast_columns, mcid=spec.mcid)
    return design, pri


def _key(design: BayesDesign, pri: ResolvedPriors) -> tuple:
    return ("ancova", len(design.theta_names), design.intercept, tuple(design.effect_idx.tolist()),
            tuple(design.coef_idx.tolist()), pri.intercept.family, pri.treatment.family,
            tuple(pri.coefficients[design.theta_names[k]].family for k in design.coef_idx), pri.sigma.family)


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
    prior_draws: int = 500,
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
        counted in ``convergence.warnings``.
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
    prior_draws : int
        Draws of the ``prior``/``prior_predictive`` groups (0 = none).

    Returns
    -------
    FitResult
        ``effects``: one row, common schema + :data:`BAYES_COLUMNS` with
        ``estimate`` = posterior mean, ``std_error`` = posterior SD,
        ``conf_low``/``conf_high`` = equal-tailed 95% CrI, ``df`` and
        ``p_value`` NaN, ``engine = "pymc"``, then ``posterior_median``,
        ``ess_tail``, ``mcse_mean``, ``prob_harm``, ``prob_rope``,
        ``rope_low``, ``rope_high``, ``mcid``, ``diagnostics_ok``,
        ``diagnostic_flags``, ``sampler``, ``sampler_fallback``,
        ``treatment_prior``, ``data_label``. ``params``: posterior summaries
        of every coefficient (R names); ``covariance``: ``residual`` (the
        variance); ``convergence.converged`` is False when any diagnostic is
        flagged or the sampler fell back; ``extras["inference_data"]``
        (:mod:`longmod.engines.bayes.idata`), ``extras["priors"]``.

    Notes
    -----
    Reproducibility: the same ``sampler["seed"]`` (with the same data, priors,
    settings and package versions) gives bit-identical draws in every run, the
    first (compiling) one included (:mod:`longmod.engines.bayes.compile_cache`).

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
    info_rt = runtime.configure_pytensor()  # first: it sets PyTensor's compile cache before PyTensor is imported
    import pymc as pm  # noqa: F401 - fail early when the Bayesian stack is missing

    settings = runtime.SamplerSettings.from_mapping(spec.sampler, **dict(sampler or {}))
    design, pri = _setup(spec, data)
    prep = design.prep
    y = np.asarray(prep.y, dtype=float)
    model = _build(design, y, pri)
    from longmod.engines.bayes.longitudinal import model_data

    idata, info = runtime.sample_model(lambda: _build(design, y, pri), model_data(model), settings,
                                       cache_key=_key(design, pri), model=model)
    post = idata.posterior
    beta = post["beta"].values
    sigma = post["sigma"].values
    X = np.asarray(prep.X, dtype=float)
    mu = beta @ X.T
    from scipy import stats

    loglik = stats.norm.logpdf(y, loc=mu, scale=sigma[..., None])
    prior = pp = None
    if prior_draws:
        prior = sample_prior(model, prior_draws, settings.seed)
        rng = np.random.default_rng(settings.seed)
        pmu = prior["beta"].values[0] @ X.T
        pp = pmu + prior["sigma"].values[0][:, None] * rng.standard_normal(pmu.shape)
    ids = prep.frame[spec.subject].astype(str).tolist()
    idata = finish(idata, keep=(*REPORTED, "sigma"), loglik=loglik, patients=ids, y=y,
                   obs_coords={spec.subject: ids}, prior=prior, prior_predictive=pp,
                   attrs={"treatment_prior": pri.treatment.describe(),
                          "treatment_prior_on": design.treatment_prior_on})
    effects = effect_rows(spec, design, idata, info, counts=[(len(y), len(y))], estimand=estimand, rope=rope,
                          higher_is_better=higher_is_better, data_label=data_label, model="ancova", day=day)
    return fit_result(
        spec=spec, effects=effects, params=params_table(beta, design.columns), idata=idata, info=info,
        settings=settings, runtime=info_rt, data_sha256=prep.data_sha256, n_obs=len(y), n_patients=len(y),
        priors=pri, design=design, model="ancova", diagnostics=("sigma",),
    )


def prior_predictive_ancova(spec: Any, data: pd.DataFrame, *, draws: int = 500, seed: int | None = None) -> Any:
    """Prior draws of the ANCOVA (``prior`` group: ``effect``, ``beta``, ``sigma``, ...), for prior checks.

    Returns
    -------
    xarray.Dataset
        One chain of ``draws`` forward draws of every model variable.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from longmod.spec.model import ModelSpec, Treatment
    >>> rng = np.random.default_rng(0)
    >>> d = pd.DataFrame({"patient_id": range(40), "arm": ["control", "active"] * 20, "baseline": rng.normal(150, 40, 40)})
    >>> d["change"] = 20 * (d.arm == "active") - 0.3 * d.baseline + rng.normal(0, 50, 40)
    >>> spec = ModelSpec(name="ancova", outcome="change", fixed="arm + baseline", subject="patient_id",
    ...                  engine="pymc", treatment=Treatment("arm", "control", "active"))
    >>> prior = prior_predictive_ancova(spec, d, draws=200, seed=1)  # compiles a sampler: ~20 s  # doctest: +SKIP
    >>> "effect" in prior, prior["effect"].shape  # doctest: +SKIP
    (True, (1, 200, 1))
    """
    runtime.configure_pytensor()
    settings = runtime.SamplerSettings.from_mapping(spec.sampler)
    design, pri = _setup(spec, data)
    return sample_prior(_build(design, np.asarray(design.prep.y, dtype=float), pri), draws,
                        settings.seed if seed is None else seed)
