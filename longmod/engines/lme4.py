"""lme4 adapter through pymer4 0.8.2 + rpy2 3.5.17 (optional extra ``longmod[lme4]``).

Fits ``outcome ~ fixed + (1 | subject)`` (``ri``), ``(1 + time | subject)``
(``ris``) or ``(1 | subject) + (0 + time | subject)`` (``ris_diag``) with
``lmerTest::lmer`` and takes every inferential number from R:
``vcov()``, and ``lmerTest::contest1D`` for each coefficient and each visit
contrast with ``ddf = "Satterthwaite"`` or ``"Kenward-Roger"`` (pbkrtest:
adjusted vcov and df), or normal tests for ``df = "asymptotic"``. A fixed-effects
formula R cannot read (formulaic's ``C(x, Treatment("a"))``, ``I(x**2)``) is passed as
longmod's design matrix (``0 + X1 + ... + Xp``), so the coefficients are the same.

pymer4 and rpy2 are imported only inside :func:`fit_lme4`; R needs the
packages lme4, lmerTest, emmeans and pbkrtest (Debian: ``r-cran-lme4
r-cran-lmertest r-cran-emmeans r-cran-pbkrtest``).
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd

from longmod.engines.core.prepare import build_effects, effect_grid, prepare, provenance
from longmod.results.emm import LinearInference
from longmod.results.fit import COVARIANCE_COLUMNS, PARAM_COLUMNS, Convergence, FitResult
from longmod.results.schema import t_interval
from longmod.spec.formula import level_label
from longmod.spec.model import ModelSpec, SpecError

STRUCTURES = ("ri", "ris", "ris_diag")
_R_SYNTAX = re.compile(r"[A-Za-z0-9_.\s:*+\-()]*")  # fixed effects R's formula parser reads as longmod does
DF = {"satterthwaite": "Satterthwaite", "kenward-roger": "Kenward-Roger", "asymptotic": None}


def check_spec(spec: ModelSpec) -> None:
    """Fail before fitting (and before importing R) when lme4 cannot honour ``spec``.

    Examples
    --------
    >>> from longmod.spec import ModelSpec
    >>> check_spec(ModelSpec(name="m", outcome="y", fixed="x", subject="id", covariance="ri",
    ...                      df="residual"))
    Traceback (most recent call last):
    ...
    longmod.spec.model.SpecError: model 'm': lme4 engine supports df satterthwaite, kenward-roger, asymptotic (got 'residual')
    """
    where = f"model {spec.name!r}: lme4 engine"
    if spec.covariance not in STRUCTURES:
        raise SpecError(f"{where} supports covariance {', '.join(STRUCTURES)} (got {spec.covariance!r}); "
                        "use engine='native' for MMRM structures")
    if spec.df not in DF:
        raise SpecError(f"{where} supports df {', '.join(DF)} (got {spec.df!r})")
    if spec.vcov != "model":
        raise SpecError(f"{where} supports vcov 'model' only (got {spec.vcov!r})")
    if spec.covariance in ("ris", "ris_diag") and not spec.time:
        raise SpecError(f"{where}: covariance {spec.covariance!r} needs `time`")
    if spec.df == "kenward-roger" and spec.method != "reml":
        raise SpecError(f"{where}: df='kenward-roger' needs method='reml'")


def _import():
    try:
        from pymer4.models import Lmer
        from rpy2 import robjects
    except ImportError as exc:
        raise ImportError(
            "the lme4 engine needs pymer4 0.8.2 and rpy2 3.5.17: `pip install longmod[lme4]`, plus R with "
            "the packages lme4, lmerTest, emmeans and pbkrtest (Debian: apt-get install r-base-core "
            f"r-cran-lme4 r-cran-lmertest r-cran-emmeans r-cran-pbkrtest); import failed: {exc}"
        ) from exc
    _forget_r_library_path()
    return Lmer, robjects


def _forget_r_library_path() -> None:
    """Take back the R library folders rpy2 put in front of ``LD_LIBRARY_PATH`` when it started R.

    The loader reads the variable only when a process starts, so this process (R is loaded) does not need it;
    child processes do inherit it, and a child Python then loads the system's libpython from R's folders and
    fails (``_ssl``: undefined symbol), which broke Dask worker processes and other children started after the
    lme4 engine had run.
    """
    import os

    from rpy2.rinterface_lib import openrlib

    added = getattr(openrlib, "LD_LIBRARY_PATH", "") or ""
    value = os.environ.get("LD_LIBRARY_PATH")
    if added and value is not None and value.startswith(added + ":"):
        rest = value[len(added) + 1:]
        if rest:
            os.environ["LD_LIBRARY_PATH"] = rest
        else:
            del os.environ["LD_LIBRARY_PATH"]


def fit_lme4(spec: ModelSpec, data: pd.DataFrame, level: float = 0.95) -> FitResult:
    """Fit ``spec`` with lme4/lmerTest through pymer4.

    Returns
    -------
    FitResult
        Same tables as the native engine. ``covariance`` has ``var(Intercept)``,
        ``cov(Intercept,time)``, ``var(time)`` (``ris``) and ``residual``;
        lme4's convergence messages are kept in ``convergence.warnings``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from longmod.spec import ModelSpec, Treatment
    >>> rng = np.random.default_rng(3)
    >>> d = pd.DataFrame({"id": np.repeat(np.arange(30), 3), "t": np.tile([1.0, 2.0, 3.0], 30),
    ...                   "arm": np.repeat(["P", "T"], 45)})
    >>> d["y"] = np.repeat(rng.normal(size=30), 3) + rng.normal(size=90)
    >>> spec = ModelSpec(name="m", outcome="y", fixed="arm + t", subject="id", time="t",
    ...                  covariance="ri", df="satterthwaite", treatment=Treatment("arm", "P", "T"))
    >>> fit = fit_lme4(spec, d)  # doctest: +SKIP
    """
    check_spec(spec)
    Lmer, ro = _import()
    prep = prepare(spec, data)
    frame = prep.frame.drop(columns="__pos").copy()
    s_ = spec.subject
    rand = {"ri": f"(1 | {s_})", "ris": f"(1 + {spec.time} | {s_})",
            "ris_diag": f"(1 | {s_}) + (0 + {spec.time} | {s_})"}[spec.covariance]
    frame[s_] = frame[s_].map(str)
    if _R_SYNTAX.fullmatch(spec.fixed) and "**" not in spec.fixed and not re.search(r"[\w.]\s*\(", spec.fixed):
        for v, lv in prep.formula.factor_levels.items():  # R factors with longmod's level order
            frame[v] = pd.Categorical(frame[v].map(level_label), categories=list(lv))
        formula = f"{spec.outcome} ~ {spec.fixed} + {rand}"
        r_names = None
    else:  # R cannot parse the formula: give it longmod's design (same column space, same fit)
        xcols = [f"X{j + 1}" for j in range(prep.X.shape[1])]
        frame = pd.concat([frame[[spec.outcome, s_] + ([spec.time] if spec.time else [])].reset_index(drop=True),
                           pd.DataFrame(prep.X, columns=xcols)], axis=1)
        formula = f"{spec.outcome} ~ 0 + {' + '.join(xcols)} + {rand}"
        r_names = xcols
    model = Lmer(formula, data=frame)
    with warnings.catch_warnings(record=True) as caught:  # kept as data in convergence.warnings
        warnings.simplefilter("always")
        model.fit(REML=spec.method == "reml", summarize=False, no_warnings=True,
                  control="optimizer='bobyqa', optCtrl=list(rhoend=1e-10, maxfun=1e5)")
    r = ro.r
    fit_obj = model.model_obj
    names = list(r["names"](r["fixef"](fit_obj)))
    beta = np.asarray(r["fixef"](fit_obj), float)
    vcov = np.asarray(r["as.matrix"](r["vcov"](fit_obj)), float)
    if names != (r_names or list(prep.columns)):
        raise RuntimeError(f"lme4 coefficient names {names} differ from longmod's {list(prep.columns)}")
    names = list(prep.columns)
    ddf = DF[spec.df]
    contest = r("function(m, L, ddf) as.numeric(unlist(lmerTest::contest1D(m, L, ddf = ddf)[1:3]))")

    def infer(c):
        if ddf is None:
            return float(c @ beta), float(np.sqrt(c @ vcov @ c)), np.inf
        est, se, df = contest(fit_obj, ro.FloatVector(c), ddf)
        return est, se, df

    rows = []
    for term in prep.all_columns:
        if term not in names:
            rows.append({"term": term, **{k: np.nan for k in PARAM_COLUMNS[1:]}})
            continue
        est, se, df = infer(np.eye(len(names))[names.index(term)])
        lo, hi, p = t_interval(est, se, df, level)
        rows.append({"term": term, "estimate": est, "std_error": se, "df": df, "statistic": est / se,
                     "p_value": p, "conf_low": lo, "conf_high": hi})
    params = pd.DataFrame(rows, columns=list(PARAM_COLUMNS))
    grid = effect_grid(spec, prep)
    _, _, C = grid
    res = [infer(c) for c in C]
    ver = str(r("as.character(packageVersion('lme4'))")[0])
    vc = r("function(m) { v <- as.data.frame(lme4::VarCorr(m)); v$var1[is.na(v$var1)] <- ''; "
           "v$var2[is.na(v$var2)] <- ''; v }")(fit_obj)
    vcd = {str(k): list(vc.rx2(k)) for k in vc.names}
    cov = []
    if r_names:  # design route: lme4 names the slope after the time column
        vcd["var1"] = ["(Intercept)" if x == "(Intercept)" else x for x in vcd["var1"]]
    for grp, v1, v2, val in zip(vcd["grp"], vcd["var1"], vcd["var2"], vcd["vcov"]):
        if grp == "Residual":
            cov.append(("residual", val))
        elif v2 == "":
            cov.append(("var(Intercept)" if v1 == "(Intercept)" else "var(time)", val))
        else:
            cov.append(("cov(Intercept,time)", val))
    order = ["var(Intercept)", "cov(Intercept,time)", "var(time)", "residual"]
    covariance = pd.DataFrame(sorted(cov, key=lambda x: order.index(x[0])), columns=list(COVARIANCE_COLUMNS))
    ll = float(r("function(m) as.numeric(logLik(m))")(fit_obj)[0])
    q = len(cov)
    p = len(names)
    k_ic = q + (0 if spec.method == "reml" else p)
    n_subj = int(len(np.unique(prep.subject)))
    singular = bool(r("function(m) lme4::isSingular(m, tol = 1e-4)")(fit_obj)[0])
    fit_stats = {"method": spec.method, "log_likelihood": ll, "neg2_log_likelihood": -2 * ll,
                 "aic": -2 * ll + 2 * k_ic, "bic": -2 * ll + np.log(n_subj) * k_ic, "n_obs": len(prep.y),
                 "n_patients": n_subj, "covariance": spec.covariance, "df_method": spec.df,
                 "n_dropped": int(prep.n_dropped), "singular": singular, "formula": formula}
    msgs = tuple(str(m) for m in r("function(m) as.character(c(m@optinfo$conv$lme4$messages, unlist(m@optinfo$warnings)))")(fit_obj))
    n_lme4 = len(msgs)
    # API deprecations inside pymer4/pandas say nothing about the fit: passed on to Python's
    # warning system, not recorded as fit warnings (which flag the fit in the report)
    about_code = [w for w in caught if issubclass(w.category, (DeprecationWarning, FutureWarning))]
    for w in about_code:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    msgs = msgs + tuple(str(w) for w in (model.warnings or [])) + tuple(
        f"{w.category.__name__}: {w.message}" for w in caught if w not in about_code)
    if singular:
        msgs = msgs + ("singular fit: lme4::isSingular(tol = 1e-4) is TRUE",)
    msgs = tuple(dict.fromkeys([*prep.warnings, *msgs]))
    conv = Convergence(not any("converge" in m.lower() for m in msgs[:n_lme4 + len(prep.warnings)]
                               if m not in prep.warnings), "lme4 bobyqa", None, None, msgs)
    df_method = spec.df if ddf is not None else "asymptotic"
    effects = build_effects(spec, prep, grid, [x[0] for x in res], [x[1] for x in res], [x[2] for x in res],
                            "lme4", ver, level, df_method=df_method, warnings=msgs)
    vc_inf = vcov
    if ddf == "Kenward-Roger":  # pbkrtest's adjusted vcov: the SEs contest1D reports
        vc_inf = np.asarray(r("function(m) as.matrix(pbkrtest::vcovAdj(m))")(fit_obj), float)
    model = LinearInference(prep.formula, prep.frame, tuple(names), beta, vc_inf, df_method,
                            lambda c: float(infer(np.asarray(c, float))[2]))
    return FitResult("lme4", ver, effects, params, covariance, fit_stats, conv, provenance(spec, prep, ver),
                     {"vcov": pd.DataFrame(vcov, index=names, columns=names), "formula": formula}, model=model)
