"""Bayesian censored biomarker models (PyMC): one marker, and all markers pooled.

Likelihood (log10 scale): an observed sample contributes the normal density,
a sample below the LLOQ the normal log-CDF at its log10 LLOQ
(``pm.Potential`` with :func:`normal_logcdf`), so no value is imputed.

Per marker (:func:`fit_bayes_marker`)::

    y_it = b_i + dev[t] + ([active] - 1/2) * delta[t] + e_it,  e ~ N(0, sigma^2),  dev[0] = 0
    b_i ~ N(ybar + a, sigma_b^2), a ~ N(0, 1) (integrated out), dev[t > 0] ~ N(0, 1), delta[t] ~ N(0, 0.5),
    sigma, sigma_b ~ HalfNormal(0.5)

Pooled (:func:`fit_pooled`), markers m = 1..M, days t, with one of two
population distributions of the treatment effects (``prior=``)::

    "horseshoe" (default; regularised horseshoe, Piironen & Vehtari 2017, non-centred):
    delta[m, t] = z[m, t] * tau[t] * lt[m, t],   z ~ N(0, 1)
    lt^2 = c^2 lambda^2 / (c^2 + tau[t]^2 lambda^2),   lambda[m, t] ~ HalfCauchy(1)
    tau[t] ~ HalfCauchy(tau0),   c^2 ~ InvGamma(nu / 2, nu s^2 / 2)    (slab: nu = 4, s = 0.5)
    tau0 = p0 / (M - p0) * se_ref                  (p0 = 5 expected non-null markers a day)

    "normal" (the first version; shrinks towards a common day mean, no exact zeros):
    delta[m, t] = mu[t] + tau[t] * z[m, t],  z ~ N(0, 1)
    mu[t] ~ N(0, 0.5), tau[t] ~ HalfNormal(0.2)

    both: b_im ~ N(ybar_m + a_m, sigma_b_m^2), a_m (integrated out), dev[m, t > 0] ~ N(0, 1),
          sigma_m, sigma_b_m ~ HalfNormal(0.5)

The horseshoe shrinks null effects towards exactly 0 while leaving large
effects nearly unshrunk (the slab caps them at ~s); it is the default because
the seeded simulation (``docs/biomarkers_simulation.md``, part B) showed the
normal population distribution calling too many null markers when few
markers truly change. ``se_ref`` is the typical standard error of one
marker's between-arm difference on one day: the median over markers of the
SD of LOQ/2-substituted log10 values times sqrt(1/n_active + 1/n_reference)
(day-0 patients).

Priors are in log10 units (0.5 = a 3.2-fold change; 0.2 = 1.6-fold). ``ybar``
is the marker's mean of LOQ/2-substituted log10 values (centring only).
Parametrisation for mixing (measured on 8 and 48 markers; before/after in
``benchmarks/README.md``, "Biomarkers"):

* the patient levels are hierarchically centred (``b_i`` around the marker
  mean, not ``a + sigma_b * z_i``: with 5 samples per patient the data
  identify them), and the marker mean ``a_m ~ N(0, 1)`` is **integrated out**
  analytically: a marker's levels are ``N(ybar_m 1, sigma_b_m^2 I + 1 1')``
  (:func:`_levels_logp`, closed form). Sampled, ``a_m`` moved with the mean of
  its ~40 levels (a posterior correlation near 1 that a diagonal mass matrix
  follows only in small steps);
* the half-Cauchy scales ``tau`` and ``lambda`` are sampled directly on the
  log scale (PyMC's log transform; the density of ``log lambda`` is the
  smooth hyperbolic secant), one unconstrained parameter per scale instead of
  the two-factor ``HalfNormal * sqrt(InvGamma)`` product, whose factors are
  identified only through their product (a ridge per scale; measured: bulk
  ESS of ``lambda`` 163 with the product form, 338 with the log scale, same data,
  seed and settings);
* the arm indicator is centred (+-1/2) so that day means and ``delta`` are
  nearly uncorrelated a posteriori. The pooled effects stay non-centred.

The per-day global scales ``tau`` still mix slowest (the funnel between a
global scale and its local scales is the horseshoe's own geometry), which
is why :data:`BIOMARKER_SAMPLER` draws 2 x 2000 after 1000 tuning steps.
Sampling goes through :func:`longmod.engines.bayes.runtime.sample_model`
(nutpie by default, PyMC NUTS with ``init="jitter+adapt_diag_grad"`` as
fallback; BLAS limited to one thread; PyTensor's compile cache configured
before PyTensor's first import).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from longmod.biomarkers.frame import log10_frame
from longmod.biomarkers.simulate import ACTIVE, REFERENCE
from longmod.results.schema import effects_frame

#: Sampler defaults for the biomarker models (override with ``sampler=``).
#: 2 chains x 2000 draws after 1000 tuning steps: on the 48 SYNTHETIC STROMA-CoV-2 markers the per-day horseshoe
#: scales ``tau`` mixed slowest (bulk ESS 216-371 from 2 x 1000 draws, every other parameter >= 354), so twice
#: the draws keep every parameter's bulk ESS above 400 (benchmarks/README.md, "Biomarkers").
BIOMARKER_SAMPLER: Mapping[str, Any] = {"chains": 2, "draws": 2000, "tune": 1000, "target_accept": 0.9,
                                        "seed": 20240607}
ENGINE = "pymc"
#: Population distributions of the pooled treatment effects (first = default).
POOLING_PRIORS: tuple[str, ...] = ("horseshoe", "normal")
#: Regularised-horseshoe settings: expected non-null markers per day, slab scale (log10) and df.
HORSESHOE: Mapping[str, float] = {"expected_nonnull": 5, "slab_scale": 0.5, "slab_df": 4}


def _prepare(frame: pd.DataFrame, active: str, reference: str) -> dict[str, Any]:
    d = log10_frame(frame, "loq")
    missing = [a for a in (active, reference) if not (d["arm"] == a).any()]
    if missing:
        raise ValueError(f"biomarker frame, column 'arm': no rows for arm(s) {', '.join(map(repr, missing))}; "
                         f"arms present: {', '.join(map(str, sorted(d['arm'].unique())))} (pass active= and reference=)")
    d = d[d["arm"].isin([active, reference])].reset_index(drop=True)
    ys = np.where(d["censored"], d["y"] - np.log10(2.0), d["y"])
    markers = sorted(d["marker"].unique())
    days = sorted(d["day"].unique())
    mi = d["marker"].map({m: k for k, m in enumerate(markers)}).to_numpy()
    di = d["day"].map({t: k for k, t in enumerate(days)}).to_numpy()
    # patient-marker levels numbered marker by marker (contiguous blocks, used by the marginal prior of b)
    pat_codes = pd.factorize(d["patient_id"], sort=True)[0]
    _, pmi = np.unique(mi.astype(np.int64) * (int(pat_codes.max()) + 1) + pat_codes, return_inverse=True)
    ybar = pd.Series(ys).groupby(mi).mean().reindex(range(len(markers))).to_numpy()
    d0 = d[d["day"] == days[0]]
    n1 = max(int((d0["arm"] == active).sum() / max(len(markers), 1)), 1)
    n0 = max(int((d0["arm"] == reference).sum() / max(len(markers), 1)), 1)
    sd_m = pd.Series(ys).groupby(mi).std(ddof=1).fillna(0.3).to_numpy()
    se_ref = float(np.median(sd_m) * np.sqrt(1 / n1 + 1 / n0))
    return {"frame": d, "y": d["y"].to_numpy(float), "cens": d["censored"].to_numpy(bool), "marker": mi,
            "day": di, "cell": mi * len(days) + di, "active": (d["arm"] == active).to_numpy(float) - 0.5,
            "pm": pmi, "n_pm": int(pmi.max()) + 1,
            "pm_marker": (np.bincount(pmi, weights=mi) / np.bincount(pmi)).round().astype(int),
            "pm_counts": np.bincount(np.unique(np.column_stack([pmi, mi]), axis=0)[:, 1], minlength=len(markers)),
            "markers": markers, "days": days, "ybar": ybar, "se_ref": se_ref}


def horseshoe_tau0(n_markers: int, se_ref: float, expected_nonnull: float | None = None) -> float:
    """Global-scale prior of the regularised horseshoe, ``p0 / (M - p0) * se_ref``.

    Piironen & Vehtari (2017, eq. 3.12) with ``sigma / sqrt(n)`` replaced by
    ``se_ref``, the typical standard error of one marker's effect.

    Examples
    --------
    >>> round(horseshoe_tau0(48, 0.13), 4)
    0.0151
    """
    p0 = float(HORSESHOE["expected_nonnull"] if expected_nonnull is None else expected_nonnull)
    p0 = min(max(p0, 0.5), n_markers - 0.5)
    return p0 / (n_markers - p0) * se_ref


def _levels_logp(pt, r, sigma_b, counts: np.ndarray):
    """log density of the patient levels with each marker's mean ``a_m ~ N(0, 1)`` integrated out.

    ``r`` = levels minus the marker's ``ybar``, marker by marker (contiguous
    blocks of ``counts``); per marker ``r ~ N(0, sigma_b^2 I + 1 1')``:
    ``-n/2 log 2 pi - (n - 1) log sigma_b - log(sigma_b^2 + n) / 2
    - (sum r^2 / sigma_b^2 - (sum r)^2 / (sigma_b^2 (sigma_b^2 + n))) / 2``
    (Sherman-Morrison and the determinant lemma).
    """
    n = counts.astype(float)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    c1 = pt.concatenate([pt.zeros(1), pt.cumsum(r)])
    c2 = pt.concatenate([pt.zeros(1), pt.cumsum(r**2)])
    s1, s2 = c1[bounds[1:]] - c1[bounds[:-1]], c2[bounds[1:]] - c2[bounds[:-1]]
    v = sigma_b**2
    return pt.sum(-0.5 * n * np.log(2 * np.pi) - (n - 1) * pt.log(sigma_b) - 0.5 * pt.log(v + n)
                  - 0.5 * (s2 / v - s1**2 / (v * (v + n))))


def normal_logcdf(pt: Any, z: Any) -> Any:
    """``log Phi(z)`` of a PyTensor ``z``, from ``erfc`` only, so that numba can cache the model's graph.

    PyMC's normal log-CDF calls ``erfcx``, which PyTensor's numba backend
    runs through a SciPy function pointer that it cannot cache: a model with
    censored values was compiled again in every process. Here: for
    ``z >= -1`` ``log1p(-erfc(z / sqrt 2) / 2)`` (as PyMC); for
    ``-37 <= z < -1`` ``log(erfc(-z / sqrt 2) / 2)`` (``erfc`` stays a normal
    number down to ``z = -37``); below, the asymptotic series
    ``-z^2/2 - log(-z) - log(2 pi)/2 + log1p(-1/z^2 + 3/z^4 - 15/z^6)``
    (next term ``105/z^8 < 3e-11``). Each branch gets its input clipped to its
    own range, so the branches not taken have finite gradients.

    Examples
    --------
    >>> import numpy as np, pytensor.tensor as pt
    >>> from scipy.special import log_ndtr
    >>> z = np.array([-60.0, -37.5, -20.0, -1.5, 0.0, 3.0])
    >>> bool(np.allclose(normal_logcdf(pt, pt.as_tensor(z)).eval(), log_ndtr(z), rtol=1e-10, atol=0))
    True
    """
    zt = pt.minimum(z, -37.0)
    tail = (-0.5 * zt**2 - pt.log(-zt) - 0.5 * np.log(2.0 * np.pi)
            + pt.log1p(-1.0 / zt**2 + 3.0 / zt**4 - 15.0 / zt**6))
    mid = pt.log(0.5 * pt.erfc(-pt.clip(z, -37.0, -1.0) / np.sqrt(2.0)))
    high = pt.log1p(-0.5 * pt.erfc(pt.maximum(z, -1.0) / np.sqrt(2.0)))
    return pt.switch(pt.lt(z, -37.0), tail, pt.switch(pt.lt(z, -1.0), mid, high))


def _build(p: dict[str, Any], pooled: bool, prior: str = "horseshoe"):
    import pymc as pm
    import pytensor.tensor as pt

    M, D = len(p["markers"]), len(p["days"])
    obs, cen = ~p["cens"], p["cens"]
    with pm.Model() as model:
        # hierarchical centring: each patient's level b ~ N(a_m, sigma_b) carries the marker's day-0
        # mean; dev[m, t] (t > 0) are day-t minus day-0 mean changes (both arms' average).
        dev = pm.Normal("dev", 0.0, 1.0, shape=M * (D - 1))
        dev_ext = pt.concatenate([pt.zeros(1), dev])
        t_of_cell = np.tile(np.arange(D), M)
        m_of_cell = np.repeat(np.arange(M), D)
        dev_index = np.where(t_of_cell == 0, 0, 1 + m_of_cell * (D - 1) + t_of_cell - 1)
        if pooled and prior == "normal":
            mu = pm.Normal("mu", 0.0, 0.5, shape=D)
            tau = pm.HalfNormal("tau", 0.2, shape=D)
            z = pm.Normal("z", 0.0, 1.0, shape=M * D)
            delta = pm.Deterministic("delta", mu[t_of_cell] + tau[t_of_cell] * z)
        elif pooled:
            nu, s = float(HORSESHOE["slab_df"]), float(HORSESHOE["slab_scale"])
            tau = pm.HalfCauchy("tau", horseshoe_tau0(M, p["se_ref"]), shape=D)  # sampled as log(tau)
            lam = pm.HalfCauchy("lambda", 1.0, shape=M * D)
            c2 = pm.InverseGamma("c2", nu / 2, nu * s**2 / 2)
            pm.Deterministic("slab", pm.math.sqrt(c2))
            tl2 = (tau[t_of_cell] * lam) ** 2
            lt = pm.math.sqrt(c2 * lam**2 / (c2 + tl2))
            z = pm.Normal("z", 0.0, 1.0, shape=M * D)
            delta = pm.Deterministic("delta", z * tau[t_of_cell] * lt)
        else:
            delta = pm.Normal("delta", 0.0, 0.5, shape=M * D)
        sigma = pm.HalfNormal("sigma", 0.5, shape=M)
        sigma_b = pm.HalfNormal("sigma_b", 0.5, shape=M)
        b = pm.Flat("b", shape=p["n_pm"], initval=p["ybar"][p["pm_marker"]])
        pm.Potential("levels", _levels_logp(pt, b - p["ybar"][p["pm_marker"]], sigma_b, p["pm_counts"]))
        eta = b[p["pm"]] + dev_ext[dev_index[p["cell"]]] + p["active"] * delta[p["cell"]]
        sd = sigma[p["marker"]]
        if obs.any():
            pm.Normal("y_obs", mu=eta[obs], sigma=sd[obs], observed=p["y"][obs])
        if cen.any():
            pm.Potential("y_censored", normal_logcdf(pt, (p["y"][cen] - eta[cen]) / sd[cen]).sum())
    return model


def _cache_key(p: dict[str, Any], pooled: bool, prior: str) -> tuple:
    """Compile-cache key of :func:`_build`'s model: its options and a digest of the data it embeds.

    The data are constants of the model's graph (not ``pm.Data``), so a compiled model is reused for the
    same data only (e.g. the bundled trial's markers in every main job).
    """
    import hashlib

    h = hashlib.sha256()
    for name in ("y", "cens", "marker", "cell", "active", "pm", "pm_marker", "pm_counts", "ybar"):
        a = np.ascontiguousarray(p[name])
        h.update(f"{name} {a.dtype} {a.shape}".encode())
        h.update(a.tobytes())
    h.update(repr((p["n_pm"], p["se_ref"], len(p["markers"]), len(p["days"]), sorted(HORSESHOE.items()))).encode())
    return ("biomarkers", "pooled" if pooled else "separate", prior, h.hexdigest())


def _sample(p: dict[str, Any], pooled: bool, sampler: Mapping[str, Any] | None, prior: str = "horseshoe"):
    from longmod.engines.bayes import runtime

    rt = runtime.configure_pytensor()
    settings = runtime.SamplerSettings.from_mapping({**BIOMARKER_SAMPLER, **dict(sampler or {})})
    idata, info = runtime.sample_model(lambda: _build(p, pooled, prior), {}, settings,
                                       cache_key=_cache_key(p, pooled, prior))
    return idata, info, settings, rt


def _effect_rows(idata, p, *, analysis: str, active: str, reference: str, mcid_fold: float) -> pd.DataFrame:
    from longmod.engines.bayes.runtime import versions
    from longmod.engines.bayes.summaries import count_divergences
    from longmod.engines.mcmc_diagnostics import summary_table

    post = idata.posterior["delta"].values  # chains x draws x (M*D)
    summ = summary_table(idata.posterior, ["delta"])
    rhat, ess = summ["r_hat"].to_numpy(), summ["ess_bulk"].to_numpy()
    div = count_divergences(idata)
    ver = versions()
    d = p["frame"]
    thr = -np.log10(mcid_fold)
    rows = []
    D = len(p["days"])
    for m, marker in enumerate(p["markers"]):
        for t, day in enumerate(p["days"]):
            k = m * D + t
            x = post[..., k].ravel()
            sel = (d["marker"] == marker) & (d["day"] == day)
            p_dec = float(np.mean(x < 0))
            rows.append({
                "analysis": analysis, "estimand": "hypothetical (MAR after death/discharge)", "outcome": marker,
                "day": day, "contrast": f"{active} - {reference}", "estimate": float(np.median(x)),
                "std_error": float(np.std(x, ddof=1)), "conf_low": float(np.quantile(x, 0.025)),
                "conf_high": float(np.quantile(x, 0.975)), "engine": ENGINE,
                "engine_version": f"pymc {ver['pymc']}, longmod {ver['longmod']}", "n_obs": int(sel.sum()),
                "n_patients": int(d.loc[sel, "patient_id"].nunique()), "prob_benefit": p_dec,
                "prob_mcid": float(np.mean(x < thr)), "r_hat": float(rhat[k]), "ess_bulk": float(ess[k]),
                "divergences": div, "posterior_mean": float(np.mean(x)), "prob_decrease": p_dec,
                "lfsr": float(min(np.mean(x <= 0), np.mean(x >= 0))), "fold_change": float(10 ** np.median(x)),
            })
    return effects_frame(rows)


def fit_bayes_marker(marker_frame: pd.DataFrame, *, sampler: Mapping[str, Any] | None = None,
                     active: str = ACTIVE, reference: str = REFERENCE, mcid_fold: float = 1.5) -> dict[str, Any]:
    """Censored random-intercept model for ONE marker, sampled with NUTS.

    Parameters
    ----------
    marker_frame : pandas.DataFrame
        Biomarker frame rows of one marker; not modified.
    sampler : mapping, optional
        Overrides of :data:`BIOMARKER_SAMPLER` (keys of
        :data:`longmod.engines.bayes.runtime.SAMPLER_KEYS`).
    active, reference : str
        Arm labels.
    mcid_fold : float
        Fold change defining ``prob_mcid`` = P(ratio of geometric means
        < 1 / mcid_fold).

    Returns
    -------
    dict
        ``effects`` (common schema + Bayesian columns, one row per day:
        ``estimate`` = posterior median of the log10 difference, ``conf_*`` =
        95% equal-tailed credible interval, ``prob_benefit`` =
        ``prob_decrease`` = P(delta < 0), ``lfsr``, ``posterior_mean``,
        ``fold_change``, ``r_hat``, ``ess_bulk``, ``divergences``),
        ``idata`` (InferenceData), ``sample_info`` and ``runtime`` (dicts).

    Examples
    --------
    >>> from longmod.biomarkers.simulate import simulate_biomarkers
    >>> d = simulate_biomarkers(1, censor_fractions=[0.3], seed=8)
    >>> out = fit_bayes_marker(d, sampler={"draws": 200, "tune": 200})  # doctest: +SKIP
    >>> list(out["effects"].day)  # doctest: +SKIP
    [0.0, 2.0, 4.0, 7.0, 14.0]
    """
    if marker_frame["marker"].nunique() != 1:
        raise ValueError("fit_bayes_marker needs the rows of one marker; use fit_pooled for several")
    p = _prepare(marker_frame, active, reference)
    idata, info, settings, rt = _sample(p, False, sampler)
    eff = _effect_rows(idata, p, analysis="biomarkers: Bayesian censored mixed model (per marker)",
                       active=active, reference=reference, mcid_fold=mcid_fold)
    return {"effects": eff, "idata": idata, "sample_info": vars(info), "runtime": rt}


def fit_pooled(frame: pd.DataFrame, *, sampler: Mapping[str, Any] | None = None, prior: str = POOLING_PRIORS[0],
               active: str = ACTIVE, reference: str = REFERENCE, mcid_fold: float = 1.5) -> dict[str, Any]:
    """Hierarchical censored model pooling all markers' treatment effects per day.

    Parameters
    ----------
    frame : pandas.DataFrame
        Biomarker frame (all markers); not modified.
    sampler, active, reference, mcid_fold
        As in :func:`fit_bayes_marker`.
    prior : {"horseshoe", "normal"}
        Population distribution of the markers' effects per day (see the
        module docstring): the sparse regularised horseshoe around 0
        (default) or the normal distribution around a day mean.

    Returns
    -------
    dict
        ``effects``: one row per marker and day, columns as in
        :func:`fit_bayes_marker` (partially pooled effects);
        ``hyper``: ``day``, ``parameter`` (``mu`` / ``tau`` for the normal
        prior; ``tau`` per day and ``slab`` (``c``, day NaN) for the
        horseshoe), ``mean``, ``sd``, ``conf_low``, ``conf_high``, ``r_hat``,
        ``ess_bulk``;
        ``diagnostics``: one-row DataFrame ``prior``, ``divergences``,
        ``max_r_hat``, ``min_ess_bulk`` (over every sampled model parameter),
        ``sample_seconds``, ``compile_seconds``, ``backend``, ``chains``,
        ``draws``, ``tune``, ``seed``, ``target_accept``, ``tau0`` (horseshoe
        global scale, NaN for normal), ``warnings``; ``idata``;
        ``sample_info``; ``runtime``.

    Examples
    --------
    >>> from longmod.biomarkers.simulate import simulate_biomarkers
    >>> d = simulate_biomarkers(4, seed=9)
    >>> out = fit_pooled(d, sampler={"draws": 200, "tune": 200})  # doctest: +SKIP
    >>> out["effects"].shape[0], int(out["diagnostics"].divergences[0])  # doctest: +SKIP
    (20, 0)
    """
    from longmod.engines.bayes.summaries import count_divergences
    from longmod.engines.mcmc_diagnostics import diagnostics, summary_table

    if prior not in POOLING_PRIORS:
        raise ValueError(f"unknown pooling prior {prior!r}; choose one of {', '.join(POOLING_PRIORS)}")
    p = _prepare(frame, active, reference)
    idata, info, settings, rt = _sample(p, True, sampler, prior)
    eff = _effect_rows(idata, p, analysis=f"biomarkers: Bayesian censored mixed model, pooled across markers ({prior})",
                       active=active, reference=reference, mcid_fold=mcid_fold)
    eff["prior"] = prior
    per_day = ("mu", "tau") if prior == "normal" else ("tau",)
    hyper = []

    def hrow(name: str, x: np.ndarray, day: float) -> dict[str, Any]:
        x3 = x.reshape(x.shape[0], x.shape[1])
        return {"day": day, "parameter": name, "mean": float(x3.mean()), "sd": float(x3.std(ddof=1)),
                "conf_low": float(np.quantile(x3, 0.025)), "conf_high": float(np.quantile(x3, 0.975)),
                **diagnostics(x3).iloc[0][["r_hat", "ess_bulk"]].astype(float).to_dict()}

    for name in per_day:
        for t, day in enumerate(p["days"]):
            hyper.append(hrow(name, idata.posterior[name].values[..., t], day))
    if prior == "horseshoe":
        hyper.append(hrow("slab", idata.posterior["slab"].values, np.nan))
    sampled = ["dev", "z", "sigma", "sigma_b", "b"] + (
        ["mu", "tau"] if prior == "normal" else ["tau", "lambda", "c2"])
    allsum = summary_table(idata.posterior, sampled)
    diag = pd.DataFrame([{
        "prior": prior, "divergences": count_divergences(idata), "max_r_hat": float(allsum["r_hat"].max()),
        "min_ess_bulk": float(allsum["ess_bulk"].min()), "sample_seconds": info.sample_seconds,
        "compile_seconds": info.compile_seconds, "backend": info.backend, "chains": settings.chains,
        "draws": settings.draws, "tune": settings.tune, "seed": settings.seed,
        "target_accept": settings.target_accept, "mass_matrix": info.mass_matrix,
        "tau0": horseshoe_tau0(len(p["markers"]), p["se_ref"]) if prior == "horseshoe" else np.nan,
        "warnings": "; ".join(info.warnings + rt["warnings"]),
    }])
    return {"effects": eff, "hyper": pd.DataFrame(hyper), "diagnostics": diag, "idata": idata,
            "sample_info": vars(info), "runtime": rt}
