"""statsmodels MixedLM adapter (random intercept ``ri`` or intercept + slope ``ris``).

statsmodels has only sigma^2 I residuals, so MMRM structures are refused.
Inference is statsmodels' own: fixed-effect covariance from ``cov_params()``
(observed information of the joint fit) and **z tests (df = inf)** -- so only
``df="asymptotic"`` is accepted and every row says ``df_method = "asymptotic"``; ask the
native engine for Satterthwaite/KR.
"""

from __future__ import annotations

import warnings as _warnings

import numpy as np
import pandas as pd

from longmod.engines.core.prepare import build_effects, effect_grid, prepare, provenance
from longmod.engines.core.singular import singular_message
from longmod.engines.core.covariance import get_structure
from longmod.results.emm import LinearInference
from longmod.results.fit import COVARIANCE_COLUMNS, PARAM_COLUMNS, Convergence, FitResult
from longmod.results.schema import t_interval
from longmod.spec.model import ModelSpec, SpecError

STRUCTURES = ("ri", "ris")
DF = ("asymptotic",)


def check_spec(spec: ModelSpec) -> None:
    """Fail before fitting when statsmodels cannot honour ``spec``.

    Examples
    --------
    >>> from longmod.spec import ModelSpec
    >>> check_spec(ModelSpec(name="m", outcome="y", fixed="x", subject="id", time="t",
    ...                      covariance="ris", df="asymptotic"))
    """
    where = f"model {spec.name!r}: statsmodels engine"
    if spec.covariance not in STRUCTURES:
        raise SpecError(f"{where} supports covariance {', '.join(STRUCTURES)} (got {spec.covariance!r}); "
                        "use engine='native' for MMRM structures")
    if spec.df not in DF:
        raise SpecError(f"{where} supports df {', '.join(DF)} only (z tests; got {spec.df!r}); "
                        "use engine='native' or 'lme4' for Satterthwaite/Kenward-Roger")
    if spec.vcov != "model":
        raise SpecError(f"{where} supports vcov 'model' only (got {spec.vcov!r})")
    if spec.covariance == "ris" and not spec.time:
        raise SpecError(f"{where}: covariance 'ris' needs `time`")


def fit_statsmodels(spec: ModelSpec, data: pd.DataFrame, level: float = 0.95) -> FitResult:
    """Fit ``spec`` with ``statsmodels.regression.mixed_linear_model.MixedLM``.

    Returns
    -------
    FitResult
        Same tables as the native engine (effects with ``df = inf``); the
        covariance table has ``var(Intercept)``, ``cov(Intercept,time)``,
        ``var(time)`` (``ris`` only) and ``residual``. Every statsmodels
        warning is kept in ``convergence.warnings``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from longmod.spec import ModelSpec, Treatment
    >>> rng = np.random.default_rng(2)
    >>> d = pd.DataFrame({"id": np.repeat(np.arange(30), 3), "t": np.tile([1.0, 2.0, 3.0], 30),
    ...                   "arm": np.repeat(["P", "T"], 45)})
    >>> d["y"] = np.repeat(rng.normal(size=30), 3) + rng.normal(size=90)
    >>> spec = ModelSpec(name="m", outcome="y", fixed="arm + t", subject="id", time="t",
    ...                  covariance="ri", df="asymptotic", treatment=Treatment("arm", "P", "T"))
    >>> fit_statsmodels(spec, d).effects["df"].tolist()
    [inf]
    """
    check_spec(spec)
    import statsmodels
    from statsmodels.regression.mixed_linear_model import MixedLM

    prep = prepare(spec, data)
    n = len(prep.y)
    Z = np.ones((n, 1)) if spec.covariance == "ri" else np.column_stack([np.ones(n), prep.frame[spec.time].to_numpy(float)])
    reml = spec.method == "reml"
    with _warnings.catch_warnings(record=True) as caught:
        _warnings.simplefilter("always")
        model = MixedLM(prep.y, prep.X, groups=prep.subject, exog_re=Z)
        res = None
        used = []
        for method in ("lbfgs", "bfgs", "nm"):
            used.append(method)
            try:
                res = model.fit(reml=reml, method=[method])
            except (np.linalg.LinAlgError, ValueError) as exc:  # pragma: no cover - fallback path
                _warnings.warn(f"statsmodels {method} failed: {exc}")
                continue
            if res.converged:
                break
    msgs = tuple(str(w.message) for w in caught)
    p = prep.X.shape[1]
    beta = np.asarray(res.fe_params)
    vcov = np.asarray(res.cov_params())[:p, :p]
    kept = list(prep.columns)
    rows = []
    for term in prep.all_columns:
        if term not in kept:
            rows.append({"term": term, **{k: np.nan for k in PARAM_COLUMNS[1:]}})
            continue
        j = kept.index(term)
        est, se = float(beta[j]), float(np.sqrt(vcov[j, j]))
        lo, hi, pv = t_interval(est, se, np.inf, level)
        rows.append({"term": term, "estimate": est, "std_error": se, "df": np.inf, "statistic": est / se,
                     "p_value": pv, "conf_low": lo, "conf_high": hi})
    params = pd.DataFrame(rows, columns=list(PARAM_COLUMNS))
    grid = effect_grid(spec, prep)
    _, L, C = grid
    ests = C @ beta
    ses = np.sqrt(np.einsum("ip,pq,iq->i", C, vcov, C))
    ver = statsmodels.__version__
    G = np.asarray(res.cov_re)
    if spec.covariance == "ri":
        cov = [("var(Intercept)", G[0, 0]), ("residual", res.scale)]
    else:
        cov = [("var(Intercept)", G[0, 0]), ("cov(Intercept,time)", G[1, 0]), ("var(time)", G[1, 1]),
               ("residual", res.scale)]
    covariance = pd.DataFrame(cov, columns=list(COVARIANCE_COLUMNS))
    q = len(cov)
    k_ic = q + (0 if reml else p)
    n_subj = int(len(np.unique(prep.subject)))
    llf = float(res.llf)
    singular = singular_message(get_structure(spec.covariance), covariance["estimate"].to_numpy(float),
                                np.arange(1.0, 3.0))
    msgs = tuple(dict.fromkeys([*prep.warnings, *msgs, *([f"singular fit: {singular}"] if singular else [])]))
    fit_stats = {"method": spec.method, "log_likelihood": llf, "neg2_log_likelihood": -2 * llf,
                 "aic": -2 * llf + 2 * k_ic, "bic": -2 * llf + np.log(n_subj) * k_ic, "n_obs": n,
                 "n_patients": n_subj, "covariance": spec.covariance, "df_method": "asymptotic",
                 "n_dropped": int(prep.n_dropped), "singular": bool(singular)}
    effects = build_effects(spec, prep, grid, ests, ses, [np.inf] * len(ests), "statsmodels", ver, level,
                            df_method="asymptotic", warnings=msgs)
    conv = Convergence(bool(res.converged), "statsmodels " + " -> ".join(used), None, None, msgs)
    model = LinearInference(prep.formula, prep.frame, tuple(kept), beta, vcov, "asymptotic", lambda c: np.inf)
    return FitResult("statsmodels", ver, effects, params, covariance, fit_stats, conv,
                     provenance(spec, prep, ver), {"vcov": pd.DataFrame(vcov, index=kept, columns=kept)}, model=model)
