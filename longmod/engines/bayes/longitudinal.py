"""Bayesian longitudinal models on long data: hierarchical LMM and MMRM.

* **LMM** (``spec.covariance`` = ``"ris"`` or ``"ri"``): random intercept (and
  slope on ``spec.time``) per ``spec.subject``, correlated through an LKJ
  prior. Two parametrisations of the same model (same priors, same posterior
  of every shared parameter), chosen with ``parametrization=``:

  - ``"marginal"`` (default): the Gaussian random effects are integrated out
    analytically, ``y_i ~ N(X_i beta, Z_i G Z_i' + sigma^2 I)``, evaluated per
    patient in closed form (:mod:`longmod.engines.bayes.marginal_lmm`). The
    sampler sees only ``beta``, ``sigma``, ``re_sd`` and ``re_corr``. Measured
    at 500 patients (``benchmarks/README.md``, warm cache, 2 cores): bulk ESS
    per second of the D7 contrast 1128 vs 135 for the latent form (both
    nutpie) and 27 for PyMC's default NUTS on the latent form (PyTensor without
    BLAS; 2186 vs 80 with OpenBLAS); for the slowest random-effect SD 330 vs 6
    and 1.7. The random effects are not sampled
    (:func:`~longmod.engines.bayes.marginal_lmm.random_effects_mean` recovers
    their posterior means).
  - ``"latent"``: the random effects are sampled, non-centred
    (``b = diag(sd) L_corr z``, ``z ~ N(0, 1)``), indexed per column
    (``b0[idx] + b1[idx] * time``); the posterior holds ``z0`` (and ``z1``).
* **MMRM** (``spec.covariance = "us"``): unstructured residual covariance
  ``Sigma = L L'`` over the visits of ``spec.visit`` with an LKJ-Cholesky prior.
  Missing visits are marginalised exactly: patients are grouped by their
  pattern of observed visits ``o`` and each group contributes
  ``MvNormal(X_o beta, Sigma[o, o])`` (MAR, as in frequentist MMRM).

The treatment contrast at each visit is the average difference between the
design rows with the treatment set to ``active`` and to ``reference`` (other
covariates as observed, ``visit``/``time`` set to the visit), applied to the
posterior draws of the fixed effects. Priors: :mod:`longmod.engines.bayes.priors`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from longmod.engines.bayes import runtime
from longmod.engines.bayes.assemble import ENGINE_NAME, covariance_table, fit_result, params_table
from longmod.engines.bayes.design import Prepared, prepare
from longmod.engines.bayes.lkj import lkj_corr_cholesky, mvn_chol_logp, pattern_cholesky
from longmod.engines.bayes.marginal_lmm import build_marginal_lmm, patient_sums
from longmod.engines.bayes.priors import centre_columns, resolve_priors
from longmod.engines.bayes.summaries import count_divergences, summarise_draws
from longmod.results.fit import FitResult
from longmod.results.schema import effects_frame

LONGITUDINAL_COVARIANCES: tuple[str, ...] = ("us", "ris", "ri")
#: Parametrisations of the Bayesian LMM (``fit_bayes_longitudinal(parametrization=...)``); first = default.
LMM_PARAMETRIZATIONS: tuple[str, ...] = ("marginal", "latent")


def _visit_order(spec: Any, frame: pd.DataFrame) -> list[Any]:
    vals = list(pd.unique(frame[spec.visit]))
    if spec.visit in spec.levels:
        order = [v for v in spec.levels[spec.visit]]
        lab = {str(v): v for v in vals}
        return [lab[str(v)] for v in order if str(v) in lab]
    try:
        return sorted(vals, key=float)
    except (TypeError, ValueError):
        return sorted(vals, key=str)


def _visit_day(spec: Any, frame: pd.DataFrame, v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        pass
    if spec.time and spec.time in frame:
        return float(frame.loc[frame[spec.visit] == v, spec.time].median())
    return float("nan")


def contrast_vectors(spec: Any, prep: Prepared, visits: list[Any]) -> np.ndarray:
    """Rows ``L_v`` such that ``L_v @ beta`` is the treatment contrast at visit ``v``."""
    f, base, tr = prep.formula, prep.frame, spec.treatment
    out = []
    for v in visits:
        grid = base.copy()
        grid[spec.visit] = v
        if spec.time and spec.time in grid:
            grid[spec.time] = float(base.loc[base[spec.visit] == v, spec.time].median())
        act, ref = grid.copy(), grid.copy()
        act[tr.variable] = tr.active
        ref[tr.variable] = tr.reference
        out.append((f.matrix(act) - f.matrix(ref)).mean(axis=0))
    return np.asarray(out)


def _build_lmm(Xc, y, subj, t, n_subj, columns, p, slope: bool):
    import pymc as pm
    import pytensor.tensor as pt

    with pm.Model(coords={"term": columns}) as model:
        yd = pm.Data("y", y)
        # every per-row container is declared to have y's length (SpecifyShape checks it in one
        # Op each), so the likelihood's broadcast has one length: see _build_mmrm
        n = yd.shape[0]
        X = pt.specify_shape(pm.Data("X", Xc), (n, None))
        idx = pt.specify_shape(pm.Data("subject_idx", subj), (n,))
        tt = pt.specify_shape(pm.Data("time", t), (n,))
        z0 = pm.Normal("z0", 0.0, 1.0, shape=n_subj)
        beta_c = pm.Normal("beta_c", mu=np.asarray(p["beta_mu"]), sigma=np.asarray(p["beta_sigma"]), dims="term")
        sigma = pm.HalfNormal("sigma", sigma=p["sigma"])
        if slope:
            sd = pm.HalfNormal("re_sd", sigma=np.array([p["random_intercept_sd"], p["random_slope_sd"]]), shape=2)
            Lc = lkj_corr_cholesky("re_corr", 2, p["lkj_eta"])  # rho = 2 Beta(eta, eta) - 1
            rho = pm.Deterministic("re_corr", Lc[1, 0])
            z1 = pm.Normal("z1", 0.0, 1.0, shape=n_subj)
            b0 = sd[0] * z0  # non-centred: b = diag(sd) L_corr z
            b1 = sd[1] * (rho * z0 + Lc[1, 1] * z1)
            mu = pm.math.dot(X, beta_c) + b0[idx] + b1[idx] * tt
        else:
            sd0 = pm.HalfNormal("re_sd", sigma=p["random_intercept_sd"])
            mu = pm.math.dot(X, beta_c) + (sd0 * z0)[idx]
        pm.Normal("obs", mu=mu, sigma=sigma, observed=yd, shape=n)
    return model


def _patterns(obs_mask: np.ndarray) -> list[tuple[tuple[int, ...], np.ndarray]]:
    """Group patients (rows of ``obs_mask``) by their set of observed visits."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, row in enumerate(obs_mask):
        groups.setdefault(tuple(np.flatnonzero(row).tolist()), []).append(i)
    return sorted(((k, np.asarray(v)) for k, v in groups.items()), key=lambda kv: (-len(kv[0]), kv[0]))


def _build_mmrm(Xc_by_pat, y_by_pat, patterns, n_visits, columns, p):
    import pymc as pm
    import pytensor.tensor as pt

    with pm.Model(coords={"term": columns}) as model:
        beta_c = pm.Normal("beta_c", mu=np.asarray(p["beta_mu"]), sigma=np.asarray(p["beta_sigma"]), dims="term")
        sd = pm.HalfNormal("visit_sd", sigma=p["sigma"], shape=n_visits)
        Lc = lkj_corr_cholesky("visit_corr", n_visits, p["lkj_eta"])
        pm.Deterministic("visit_corr", Lc @ Lc.T)
        Lfull = sd[:, None] * Lc
        for k, (vis, _) in enumerate(patterns):
            m = len(vis)
            yk = pm.Data(f"y_{k}", y_by_pat[k])
            # All lengths derive from y's: X's rows are declared (SpecifyShape, one Op with a
            # fixed input order) to be len(y) * m and the reshape is explicit (not -1). PyTensor
            # builds the check that two *different* symbolic lengths agree as Eq(a, b) with a, b
            # taken from a set of variables, an order that followed PYTHONHASHSEED; e.g. with
            # m = 1 the reshape became an ExpandDims and Eq(X rows, y rows) changed the numba
            # cache key of the logp graph from one process to the next.
            X = pt.specify_shape(pm.Data(f"X_{k}", Xc_by_pat[k]), (yk.shape[0] * m, None))
            resid = yk - pt.dot(X, beta_c).reshape((yk.shape[0], m))
            pm.Potential(f"loglik_{k}", mvn_chol_logp(resid, pattern_cholesky(Lfull, vis), m))
    return model


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
) -> FitResult:
    """Fit a Bayesian LMM (``covariance`` ``"ris"``/``"ri"``) or MMRM (``"us"``).

    Parameters
    ----------
    spec : ModelSpec
        ``outcome``, ``fixed`` (e.g. ``"arm * visit + baseline"``),
        ``subject``, ``visit`` (required: visits of the per-visit contrasts and
        of the MMRM covariance), ``time`` (required for ``"ris"``: numeric
        time of the random slope), ``covariance``, ``treatment``, ``levels``,
        ``mcid``, ``priors``, ``sampler``.
    data : pandas.DataFrame
        Long data, one row per patient and visit; not modified. Rows with
        missing values are dropped (reported in ``convergence.warnings``).
    estimand, sampler, higher_is_better, rope, data_label
        As in :func:`longmod.engines.bayes.ancova.fit_bayes_ancova`.
    parametrization : {"marginal", "latent"}, optional
        LMM only (see the module docstring): ``"marginal"`` (default)
        integrates the random effects out; ``"latent"`` samples them. Both
        give the same posterior for the fixed effects and variance
        components. The MMRM is always marginal (``"latent"`` is an error).

    Returns
    -------
    FitResult
        ``effects``: one row per visit (``day`` = numeric visit, or the median
        ``time`` at the visit; ``visit`` = its label), columns as in
        :func:`~longmod.engines.bayes.ancova.fit_bayes_ancova`.
        ``covariance``: posterior means of ``sigma``/``re_sd``/``re_corr``
        (LMM) or ``visit_sd`` (MMRM). ``extras["inference_data"]``,
        ``extras["contrast_vectors"]`` (visits x terms),
        ``extras["parametrization"]`` (``"marginal"``/``"latent"``).

    Examples
    --------
    >>> from longmod.spec.model import ModelSpec
    >>> spec = ModelSpec(name="mmrm", outcome="pf", fixed="arm * visit + baseline", subject="patient_id",
    ...                  visit="visit", covariance="us", engine="pymc", sampler={"chains": 2})
    >>> res = fit_bayes_longitudinal(spec, long_data)  # doctest: +SKIP
    >>> res.effects[["visit", "estimate", "conf_low", "conf_high", "prob_mcid"]]  # doctest: +SKIP
    """
    if spec.covariance not in LONGITUDINAL_COVARIANCES:
        raise ValueError(
            f"model {spec.name!r}: the Bayesian engine supports covariance "
            f"{', '.join(LONGITUDINAL_COVARIANCES)} for long data, not {spec.covariance!r}"
        )
    if not spec.visit:
        raise ValueError(f"model {spec.name!r}: a Bayesian LMM/MMRM needs spec.visit")
    if spec.covariance == "ris" and not spec.time:
        raise ValueError(f"model {spec.name!r}: covariance 'ris' (random slope) needs spec.time")
    param = LMM_PARAMETRIZATIONS[0] if parametrization is None else parametrization
    if param not in LMM_PARAMETRIZATIONS:
        raise ValueError(f"model {spec.name!r}: parametrization {param!r} is not supported; choose one of "
                         f"{', '.join(LMM_PARAMETRIZATIONS)}")
    if spec.covariance == "us" and param != "marginal":
        raise ValueError(f"model {spec.name!r}: the Bayesian MMRM (covariance 'us') is always marginal; "
                         f"parametrization {param!r} applies to covariance ri/ris only")
    info_rt = runtime.configure_pytensor()
    settings = runtime.SamplerSettings.from_mapping(spec.sampler, **dict(sampler or {}))
    extra = [spec.subject, spec.visit] + ([spec.time] if spec.time else [])
    prep = prepare(spec, data, extra=extra)
    frame = prep.frame
    if frame.duplicated([spec.subject, spec.visit]).any():
        raise ValueError(f"model {spec.name!r}: more than one row per {spec.subject} and {spec.visit}")
    p = resolve_priors(spec.priors, prep.columns, prep.treatment_columns, mcid=spec.mcid)
    Xc, means = centre_columns(prep.X, prep.columns)
    subjects, subj_idx = np.unique(frame[spec.subject].astype(str).to_numpy(), return_inverse=True)
    visits = _visit_order(spec, frame)
    if spec.covariance == "us":
        vpos = {str(v): i for i, v in enumerate(visits)}
        vidx = np.array([vpos[str(v)] for v in frame[spec.visit]])
        mask = np.zeros((len(subjects), len(visits)), dtype=bool)
        mask[subj_idx, vidx] = True
        patterns = _patterns(mask)
        row_of = np.full((len(subjects), len(visits)), -1)
        row_of[subj_idx, vidx] = np.arange(len(frame))
        Xp, yp, data_map = [], [], {}
        for k, (vis, who) in enumerate(patterns):
            rows = row_of[np.ix_(who, np.asarray(vis))].ravel()  # patient-major, visits in order
            Xp.append(Xc[rows])
            yp.append(prep.y[rows].reshape(len(who), len(vis)))
            data_map[f"X_{k}"], data_map[f"y_{k}"] = Xp[-1], yp[-1]
        key = ("mmrm", tuple(prep.columns), len(visits), tuple(v for v, _ in patterns),
               repr(sorted(p.items(), key=str)))
        build = lambda: _build_mmrm(Xp, yp, patterns, len(visits), prep.columns, p)  # noqa: E731
        cov_names = ["visit_sd"]
        diag_names = ["visit_sd", "visit_corr"]
    else:
        slope = spec.covariance == "ris"
        t = frame[spec.time].to_numpy(dtype=float) if spec.time else np.zeros(len(frame))
        key = ("lmm", param, slope, tuple(prep.columns), len(subjects), repr(sorted(p.items(), key=str)))
        if param == "marginal":
            sums = patient_sums(Xc, prep.y, t, subj_idx, len(subjects))
            data_map = {"X": Xc, "y": prep.y, **sums.as_data()}
            build = lambda: build_marginal_lmm(Xc, prep.y, sums, prep.columns, p, slope)  # noqa: E731
        else:
            data_map = {"X": Xc, "y": prep.y, "subject_idx": subj_idx, "time": t}
            build = lambda: _build_lmm(Xc, prep.y, subj_idx, t, len(subjects), prep.columns, p, slope)  # noqa: E731
        cov_names = ["sigma", "re_sd", "re_corr"]
        diag_names = cov_names
    idata, info = runtime.sample_model(build, data_map, settings, cache_key=key)
    beta_c = idata.posterior["beta_c"].values
    beta = beta_c.copy()
    if "(Intercept)" in prep.columns:
        j = prep.columns.index("(Intercept)")
        beta[..., j] = beta_c[..., j] - beta_c @ means
    idata.posterior["beta"] = idata.posterior["beta_c"].copy(data=beta)
    L = contrast_vectors(spec, prep, visits)
    mcid = 20.0 if spec.mcid is None else float(spec.mcid)
    ndiv = count_divergences(idata)
    versions = runtime.versions()
    rows = []
    for v, lv in zip(visits, L):
        at = frame[spec.visit] == v
        summ = summarise_draws(beta @ lv, mcid=mcid, divergences=ndiv, rope=rope, higher_is_better=higher_is_better)
        rows.append({
            "analysis": spec.name, "estimand": estimand, "outcome": spec.outcome, "day": _visit_day(spec, frame, v),
            "contrast": spec.treatment.label, "df": np.nan, "p_value": np.nan, "engine": ENGINE_NAME,
            "engine_version": versions["pymc"], "n_obs": int(at.sum()),
            "n_patients": int(frame.loc[at, spec.subject].nunique()), **summ, "visit": str(v),
            "model": "mmrm" if spec.covariance == "us" else "lmm", "sampler": info.backend, "data_label": data_label,
        })
    return fit_result(
        spec=spec, effects=effects_frame(rows), params=params_table(beta, prep.columns),
        covariance=covariance_table(idata, cov_names), idata=idata, info=info, settings=settings, runtime=info_rt,
        versions=versions, data_sha256=prep.data_sha256, n_obs=len(frame), n_patients=len(subjects), priors_used=p,
        warnings=prep.warnings, model="mmrm" if spec.covariance == "us" else "lmm",
        extras={"contrast_vectors": pd.DataFrame(L, index=[str(v) for v in visits], columns=prep.columns),
                "parametrization": param},
        covariance_names=diag_names,
    )


def fit_bayes(spec: Any, data: pd.DataFrame, **kwargs: Any) -> FitResult:
    """Dispatch: ANCOVA when ``spec.visit`` is None, else LMM/MMRM by ``spec.covariance``.

    Keyword arguments are passed on (see :func:`fit_bayes_longitudinal` and
    :func:`longmod.engines.bayes.ancova.fit_bayes_ancova`; ``day`` only for
    ANCOVA).
    """
    if spec.visit is None:
        from longmod.engines.bayes.ancova import fit_bayes_ancova

        return fit_bayes_ancova(spec, data, **kwargs)
    return fit_bayes_longitudinal(spec, data, **kwargs)
