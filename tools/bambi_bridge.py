"""longmod's Bayesian model written in bambi, with longmod's priors (a cross-check, not an engine).

bambi (``pip install longmod[test]``) is an independent implementation used to
check longmod's Bayesian models (``tests/bayes/test_bayes_vs_bambi.py``) and to
benchmark against (``benchmarks/bench_bayes.py``). It is not part of the
installed package.

The model is written on longmod's *parameters*: longmod re-parametrises the
design so the per-visit treatment contrasts are coefficients
(:mod:`longmod.engines.bayes.design`); every column of that design ``Z`` (the
non-intercept ones, un-centred) becomes one numeric bambi term with the prior
longmod gives it (``effect[D7]``: the treatment prior; a covariate: its
coefficient prior). bambi centres the predictors and puts its ``Intercept``
prior on the intercept of the centred design, as longmod does. What bambi
0.17 can express identically: the ANCOVA and the random-intercept LMM
(``covariance = "ri"``: non-centred ``b_i = sd z_i``); not the correlated
random intercept + slope (``"ris"``: bambi has no LKJ prior for group-specific
effects, bambinos/bambi#702) unless ``uncorrelated_slopes=True``, a different
model used only for timing.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd


def _name(col: str) -> str:
    """A bambi-safe variable name for a design column."""
    return "z_" + re.sub(r"[^0-9A-Za-z_]", "_", col)


def _bmb_prior(bmb: Any, p: Any) -> Any:
    if p.family == "normal":
        return bmb.Prior("Normal", mu=p["mu"], sigma=p["sigma"])
    if p.family == "student_t":
        return bmb.Prior("StudentT", nu=p["nu"], mu=p["mu"], sigma=p["sigma"])
    if p.family == "half_normal":
        return bmb.Prior("HalfNormal", sigma=p["sigma"])
    if p.family == "half_t":
        return bmb.Prior("HalfStudentT", nu=p["nu"], sigma=p["sigma"])
    if p.family == "exponential":
        return bmb.Prior("Exponential", lam=p["rate"])
    raise NotImplementedError(p.family)


def bambi_model(spec: Any, data: pd.DataFrame, *, uncorrelated_slopes: bool = False,
                noncentered: bool = True) -> tuple[Any, dict[str, Any]]:
    """A ``bambi.Model`` of ``spec`` on longmod's parameters, with longmod's resolved priors.

    Returns
    -------
    model : bambi.Model
    info : dict
        ``formula``, ``priors`` (longmod's, as text), ``theta_names`` (longmod's
        parameters), ``terms`` (bambi term of each parameter; ``Intercept``
        for the intercept), ``design`` (longmod's BayesDesign), ``data``.
    """
    import bambi as bmb

    from longmod.engines.bayes.design import bayes_design
    from longmod.engines.bayes.priors import resolve_priors

    lmm = spec.visit is not None
    if lmm and spec.covariance not in ("ri", "ris"):
        raise NotImplementedError(f"bambi cross-check: covariance {spec.covariance!r} is not expressible in bambi")
    if lmm and spec.covariance == "ris" and not uncorrelated_slopes:
        raise NotImplementedError("bambi 0.17 has no correlated group-specific effects (bambinos/bambi#702)")
    design = bayes_design(spec, data, treatment_declared="treatment" in dict(spec.priors or {}))
    if design.intercept is None:
        raise NotImplementedError("bambi cross-check: models without an intercept are not mapped")
    pri = resolve_priors(spec.priors, design.columns, contrast_columns=design.contrast_columns, mcid=spec.mcid)
    prep = design.prep
    Zraw = design.Z + design.means[None, :]  # un-centred: bambi centres itself
    frame = pd.DataFrame({spec.outcome: prep.y})
    terms, priors = [], {"Intercept": _bmb_prior(bmb, pri.intercept), "sigma": _bmb_prior(bmb, pri.sigma)}
    for k, name in enumerate(design.theta_names):
        if k == design.intercept:
            terms.append("Intercept")
            continue
        var = _name(name)
        frame[var] = Zraw[:, k]
        terms.append(var)
        priors[var] = _bmb_prior(bmb, pri.treatment if k in set(design.effect_idx.tolist())
                                 else pri.coefficients[name])
    rhs = " + ".join(t for t in terms if t != "Intercept")
    if lmm:
        frame[spec.subject] = prep.frame[spec.subject].astype(str).to_numpy()
        if spec.covariance == "ri":
            rhs += f" + (1 | {spec.subject})"
        else:
            frame[spec.time] = prep.frame[spec.time].to_numpy(dtype=float)
            rhs += f" + (1 + {spec.time} | {spec.subject})"
            priors[f"{spec.time}|{spec.subject}"] = bmb.Prior("Normal", mu=0.0,
                                                              sigma=_bmb_prior(bmb, pri.random_slope_sd))
        priors[f"1|{spec.subject}"] = bmb.Prior("Normal", mu=0.0, sigma=_bmb_prior(bmb, pri.random_intercept_sd))
    formula = f"{spec.outcome} ~ {rhs}"
    model = bmb.Model(formula, frame, priors=priors, noncentered=noncentered, center_predictors=True)
    return model, {"formula": formula, "priors": pri.as_dict(), "theta_names": list(design.theta_names),
                   "terms": terms, "design": design, "data": frame}


def bambi_fixed_effects(idata: Any, info: dict[str, Any]) -> np.ndarray:
    """Posterior draws of longmod's ``beta`` (R parametrisation, chain x draw x columns) from a bambi fit."""
    post = idata.posterior
    design = info["design"]
    first = post["Intercept"].values
    theta = np.empty(first.shape + (len(info["terms"]),))
    for k, term in enumerate(info["terms"]):
        theta[..., k] = post[term].values
    # bambi's Intercept is on the un-centred design (it un-centres internally): longmod's theta
    # with an un-centred intercept, so map with to_beta directly
    return theta @ design.to_beta.T
