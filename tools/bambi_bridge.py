"""The same Bayesian model written in bambi, with longmod's priors (a cross-check, not an engine).

bambi (optional; ``pip install longmod[test]``) is used as an independent
implementation to check longmod's Bayesian models and to benchmark against
(``tests/reference/bambi/``, ``benchmarks/bench_bayes.py``). This module only
translates; it never runs at import time and imports bambi lazily.

What bambi 0.17 can express identically:

* ANCOVA (``spec.visit`` is None) and the random-intercept LMM
  (``covariance = "ri"``): same fixed-effects design (bambi also centres the
  non-intercept columns, and its ``Intercept`` prior also applies to the
  intercept of the centred design), same Normal / HalfNormal priors, the same
  non-centred random intercept ``b_i = sd * z_i``.
* **Not** the correlated random intercept + slope (``"ris"``): bambi 0.17
  models group-specific terms as independent (its LKJ code is commented out:
  bambinos/bambi#702). :func:`bambi_model` refuses ``"ris"`` unless
  ``uncorrelated_slopes=True``, which builds ``(1 + time | subject)`` with
  independent effects, a *different* model (no correlation parameter), used
  only for timing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def _term_priors(prep: Any, p: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """(mu, sigma) of each bambi common term; every column of a term must share it."""
    f = prep.formula
    out: dict[str, tuple[float, float]] = {}
    for col, ti, mu, sd in zip(prep.columns, f.term_of_column, p["beta_mu"], p["beta_sigma"]):
        name = "Intercept" if ti < 0 else ":".join(f.terms[ti])
        if name in out and out[name] != (mu, sd):
            raise NotImplementedError(
                f"columns of the bambi term {name!r} have different priors in longmod ({col!r}); "
                "bambi's per-column prior order is not mapped here"
            )
        out[name] = (float(mu), float(sd))
    return out


def bambi_model(spec: Any, data: pd.DataFrame, *, uncorrelated_slopes: bool = False,
                noncentered: bool = True) -> tuple[Any, dict[str, Any]]:
    """A ``bambi.Model`` of ``spec`` with exactly longmod's resolved priors.

    Parameters
    ----------
    spec : ModelSpec
        ANCOVA (``visit`` None) or LMM with ``covariance`` ``"ri"``
        (``"ris"`` only with ``uncorrelated_slopes=True``).
    data : pandas.DataFrame
        Not modified. Complete cases are used, as in longmod; categorical
        variables become ordered pandas categoricals with longmod's level
        order (reference first), so bambi's treatment coding has the same
        columns.
    uncorrelated_slopes : bool
        Allow ``"ris"`` as ``(1 + time | subject)`` with independent intercept
        and slope (not longmod's model: for benchmarks only).
    noncentered : bool
        bambi's ``noncentered`` (longmod's LMM is non-centred).

    Returns
    -------
    model : bambi.Model
    info : dict
        ``formula``, ``priors_used`` (longmod's resolved priors),
        ``term_priors`` (bambi term -> (mu, sigma)), ``columns`` (longmod's
        design columns), ``column_terms`` (bambi term of each column),
        ``data`` (the frame given to bambi).

    Raises
    ------
    NotImplementedError
        ``"ris"`` without ``uncorrelated_slopes``, ``"us"``, or per-column
        priors within one bambi term.

    Examples
    --------
    >>> from longmod.spec.model import ModelSpec
    >>> spec = ModelSpec(name="ri", outcome="pf", fixed="arm * visit + baseline", subject="patient_id",
    ...                  visit="visit", time="day", covariance="ri", engine="pymc")
    >>> model, info = bambi_model(spec, long_data)  # doctest: +SKIP
    >>> info["formula"]  # doctest: +SKIP
    'pf ~ arm * visit + baseline + (1 | patient_id)'
    """
    import bambi as bmb

    from longmod.engines.bayes.design import prepare
    from longmod.engines.bayes.priors import resolve_priors
    from longmod.spec.formula import level_label

    lmm = spec.visit is not None
    if lmm and spec.covariance not in ("ri", "ris"):
        raise NotImplementedError(f"bambi cross-check: covariance {spec.covariance!r} is not expressible in bambi")
    if lmm and spec.covariance == "ris" and not uncorrelated_slopes:
        raise NotImplementedError(
            "bambi 0.17 has no correlated group-specific effects (no LKJ prior; bambinos/bambi#702): "
            "the 'ris' model cannot be written identically; use covariance 'ri', or uncorrelated_slopes=True "
            "for a different (uncorrelated) model"
        )
    extra = [spec.subject, spec.visit] + ([spec.time] if spec.time else []) if lmm else []
    prep = prepare(spec, data, extra=extra)
    p = resolve_priors(spec.priors, prep.columns, prep.treatment_columns, mcid=spec.mcid)
    frame = prep.frame.copy()
    for var, levels in prep.formula.factor_levels.items():
        frame[var] = pd.Categorical(frame[var].map(level_label), categories=list(levels), ordered=True)
    tp = _term_priors(prep, p)
    priors: dict[str, Any] = {name: bmb.Prior("Normal", mu=mu, sigma=sd) for name, (mu, sd) in tp.items()}
    priors["sigma"] = bmb.Prior("HalfNormal", sigma=p["sigma"])
    rhs = spec.fixed
    if lmm:
        frame[spec.subject] = frame[spec.subject].astype(str)
        if spec.covariance == "ri":
            rhs += f" + (1 | {spec.subject})"
        else:
            rhs += f" + (1 + {spec.time} | {spec.subject})"
            priors[f"{spec.time}|{spec.subject}"] = bmb.Prior(
                "Normal", mu=0.0, sigma=bmb.Prior("HalfNormal", sigma=p["random_slope_sd"]))
        priors[f"1|{spec.subject}"] = bmb.Prior("Normal", mu=0.0,
                                                sigma=bmb.Prior("HalfNormal", sigma=p["random_intercept_sd"]))
    if not prep.formula.intercept:
        raise NotImplementedError("bambi cross-check: models without an intercept are not mapped")
    formula = f"{spec.outcome} ~ {rhs}"
    model = bmb.Model(formula, frame, priors=priors, noncentered=noncentered, center_predictors=True)
    f = prep.formula
    column_terms = ["Intercept" if ti < 0 else ":".join(f.terms[ti]) for ti in f.term_of_column]
    return model, {"formula": formula, "priors_used": p, "term_priors": tp, "columns": list(prep.columns),
                   "column_terms": column_terms, "data": frame}


def bambi_fixed_effects(idata: Any, column_terms: list[str]) -> np.ndarray:
    """Posterior draws of the fixed effects of a bambi fit, in longmod's column order.

    Parameters
    ----------
    idata : arviz.InferenceData
        From ``bambi.Model.fit``.
    column_terms : list of str
        ``info["column_terms"]`` of :func:`bambi_model`: the bambi term of
        each longmod design column.

    Returns
    -------
    ndarray, shape (chain, draw, n_columns)
        Matches longmod's ``posterior["beta"]`` (R-style, un-centred
        intercept). The columns of one term are taken in bambi's level order,
        which :func:`bambi_model` made longmod's (reference level first).
    """
    post = idata.posterior
    out = None
    pos: dict[str, int] = {}
    for j, term in enumerate(column_terms):
        v = post[term].values
        v = v.reshape(v.shape[0], v.shape[1], -1)
        if out is None:
            out = np.empty(v.shape[:2] + (len(column_terms),))
        k = pos.get(term, 0)
        out[..., j] = v[..., k]
        pos[term] = k + 1
    return out
