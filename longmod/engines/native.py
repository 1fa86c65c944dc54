"""Native Gaussian engine: MMRM and random-effects LMM from one covariance table.

Supported options (checked by :func:`check_spec` before any fitting):

* ``covariance``: every entry of :data:`longmod.engines.core.covariance.COVARIANCE_TABLE`
  (us, ind, cs, csh, ar1, ar1h, toep, toeph, ad, adh, ri, ris, ris_diag, sp_exp);
* ``method``: reml, ml;
* ``vcov="model"`` with ``df`` satterthwaite, kenward-roger, kenward-roger-linear,
  residual, between-within, asymptotic;
* ``vcov="sandwich"`` (CR0, SAS EMPIRICAL) with ``df`` between-within, residual, asymptotic.

Kenward-Roger needs REML. Its W (asymptotic covariance of the covariance
parameters) is the inverse observed information for MMRM structures, which
reproduces SAS PROC MIXED DDFM=KR, and the inverse expected information for
``ri``/``ris``/``ris_diag``, which reproduces pbkrtest (R's KR for lme4 fits).

Honest labels: ``df_method`` in ``fit_stats`` and in the effects rows says what was
computed; a Satterthwaite/KR df that cannot be computed for a contrast (non-positive
variance of its variance) falls back to a z test, flagged in ``df_fallback`` and in the
warnings. A fit on the boundary (a variance at 0, a correlation at +-1) keeps
``converged`` and sets ``fit_stats["singular"]`` with a warning, as lme4's
``isSingular()``. Between-within df follow SAS (see
:mod:`longmod.engines.core.betwithin`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

import longmod
from longmod.engines.core import inference as inf
from longmod.engines.core.betwithin import between_within
from longmod.engines.core.covariance import COVARIANCE_TABLE, get_structure
from longmod.engines.core.likelihood import build_long_data
from longmod.engines.core.lsmeans import type3_matrices
from longmod.engines.core.ops import blas_controller
from longmod.engines.core.optimize import fit_covariance
from longmod.engines.core.woodbury import build_subject_data
from longmod.engines.core.prepare import build_effects, effect_grid, prepare, provenance
from longmod.engines.core.singular import singular_message
from longmod.results.emm import LinearInference
from longmod.results.fit import COVARIANCE_COLUMNS, PARAM_COLUMNS, Convergence, FitResult
from longmod.results.schema import t_interval
from longmod.spec.model import ModelSpec, SpecError

MODEL_DF = ("satterthwaite", "kenward-roger", "kenward-roger-linear", "residual", "between-within", "asymptotic")
SANDWICH_DF = ("between-within", "residual", "asymptotic")
MAX_POSITIONS = 200  # distinct visits/times: the core works on the K x K position grid


def check_spec(spec: ModelSpec) -> None:
    """Fail before fitting when the native engine cannot honour ``spec``.

    Examples
    --------
    >>> from longmod.spec import ModelSpec
    >>> check_spec(ModelSpec(name="m", outcome="y", fixed="x", subject="id", visit="v",
    ...                      vcov="sandwich", df="kenward-roger"))
    Traceback (most recent call last):
    ...
    longmod.spec.model.SpecError: model 'm': native engine: vcov='sandwich' supports df between-within, residual, asymptotic (got 'kenward-roger'); model-based vcov supports satterthwaite, kenward-roger, kenward-roger-linear, residual, between-within, asymptotic
    """
    where = f"model {spec.name!r}: native engine"
    if spec.covariance not in COVARIANCE_TABLE:
        raise SpecError(f"{where}: covariance {spec.covariance!r} unsupported; supported: {', '.join(COVARIANCE_TABLE)}")
    s = COVARIANCE_TABLE[spec.covariance]
    if s.kind == "mmrm" and not spec.visit:
        raise SpecError(f"{where}: covariance {spec.covariance!r} needs `visit` (the repeated-measures index)")
    if spec.covariance in ("ris", "ris_diag") and not spec.time:
        raise SpecError(f"{where}: covariance {spec.covariance!r} needs `time` (the numeric slope variable)")
    if s.kind == "spatial" and not spec.time:
        raise SpecError(f"{where}: covariance {spec.covariance!r} needs `time` (the numeric time whose distances "
                        "set the correlation), e.g. sp_exp(day | id)")
    if spec.vcov == "sandwich" and spec.df not in SANDWICH_DF:
        raise SpecError(
            f"{where}: vcov='sandwich' supports df {', '.join(SANDWICH_DF)} (got {spec.df!r}); "
            f"model-based vcov supports {', '.join(MODEL_DF)}"
        )
    if spec.df not in MODEL_DF:
        raise SpecError(f"{where}: df {spec.df!r} unsupported; supported: {', '.join(MODEL_DF)}")
    if spec.df.startswith("kenward") and spec.method != "reml":
        raise SpecError(f"{where}: df={spec.df!r} needs method='reml' (got {spec.method!r})")


def _positions(spec, prep, s):
    fr = prep.frame
    if s.kind == "mmrm":
        dup = fr.duplicated([spec.subject, "__pos"])
        if dup.any():
            ex = fr.loc[dup, [spec.subject, spec.visit]].head(3).to_dict("records")
            raise SpecError(f"model {spec.name!r}: repeated visit within patient, e.g. {ex}")
        pos = fr["__pos"].to_numpy(int)
        K = len(prep.visit_levels)
        if spec.time:
            tv = fr.groupby("__pos")[spec.time].mean()
            t = np.array([tv.get(k, k + 1.0) for k in range(K)], float)
        else:
            t = np.arange(1.0, K + 1)
        return pos, t, list(prep.visit_levels)
    if s.kind == "spatial" or spec.covariance in ("ris", "ris_diag"):
        tt = fr[spec.time].to_numpy(float)
        uniq, pos = np.unique(tt, return_inverse=True)
        if len(uniq) > MAX_POSITIONS:
            raise SpecError(
                f"model {spec.name!r}: {spec.covariance!r} uses the distinct values of {spec.time!r} as positions and "
                f"found {len(uniq)} (> {MAX_POSITIONS}); round the time variable (e.g. to days)"
            )
        if s.kind == "spatial":
            dup = pd.Series(pos).groupby(prep.subject).apply(lambda x: x.duplicated().any())
            if dup.any():
                raise SpecError(f"model {spec.name!r}: {spec.covariance!r} needs distinct {spec.time!r} values within "
                                "each patient (two rows at the same time would be perfectly correlated)")
        return pos, uniq, [f"{x:g}" for x in uniq]
    pos = fr.groupby(prep.subject).cumcount().to_numpy()
    K = int(pos.max()) + 1 if len(pos) else 1
    return pos, np.arange(1.0, K + 1), [str(k + 1) for k in range(K)]


def _within_vars(prep, spec):
    """term index -> factors of the term that change within some subject."""
    fr, subj = prep.frame, prep.subject
    changes = {}
    for name, f in prep.formula.factors.items():
        cols = [c for c in f.variables if c in fr.columns]
        changes[name] = bool(cols) and bool((fr.groupby(subj)[cols].nunique() > 1).any().any())
    return lambda ti: frozenset(x for x in prep.formula.terms[ti] if changes.get(x, False))


def fit_native(spec: ModelSpec, data: pd.DataFrame, level: float = 0.95) -> FitResult:
    """Fit ``spec`` with the native Gaussian core.

    Parameters
    ----------
    spec : ModelSpec
    data : pandas.DataFrame
        Long data (one row per patient and visit); not modified. Rows with a
        missing outcome or covariate are dropped (the likelihood handles the
        resulting missing visits, MAR).
    level : float
        Confidence level.

    Returns
    -------
    FitResult
        ``effects`` (common schema + ``visit``: active - reference at each
        visit), ``params`` (:data:`PARAM_COLUMNS`, R term names; aliased
        columns have NaN), ``covariance`` (``parameter``, ``estimate``),
        ``fit_stats``, ``convergence``, ``provenance`` and ``extras``
        (``lsmeans``, ``type3``, ``vcov``, ``covariance_matrix``).

    Notes
    -----
    LS means and the visit contrasts follow emmeans/SAS LSMEANS: equal
    weights over the levels of every other factor in the formula, numeric
    covariates at their mean over the fitted rows (a numeric ``time`` in the
    formula takes each visit's mean time). Type III tests follow SAS (numeric
    covariates at 0; see :func:`longmod.engines.core.lsmeans.type3_matrices`).

    BLAS is limited to one thread during the fit: the work is many small
    matrix products, where OpenBLAS threads only add contention (measured 20x
    slower on 2 shared cores).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from longmod.spec import ModelSpec, Treatment
    >>> rng = np.random.default_rng(1)
    >>> d = pd.DataFrame({"id": np.repeat(np.arange(40), 3), "v": np.tile(["V1", "V2", "V3"], 40),
    ...                   "arm": np.repeat(["P", "T"], 60)})
    >>> d["y"] = rng.normal(size=120) + np.repeat(rng.normal(size=40), 3)
    >>> spec = ModelSpec(name="m", outcome="y", fixed="arm * v", subject="id", visit="v",
    ...                  covariance="cs", treatment=Treatment("arm", "P", "T"))
    >>> fit = fit_native(spec, d)
    >>> fit.convergence.converged, len(fit.effects), list(fit.effects["visit"])
    (True, 3, ['V1', 'V2', 'V3'])
    """
    with blas_controller().limit(limits=1, user_api="blas"):
        return _fit_native(spec, data, level)


def _fit_native(spec: ModelSpec, data: pd.DataFrame, level: float = 0.95) -> FitResult:
    """Implementation of :func:`fit_native` (BLAS threads already limited)."""
    check_spec(spec)
    s = get_structure(spec.covariance)
    prep = prepare(spec, data)
    ld = None
    if s.kind == "re":  # per-subject (Woodbury) layout: any times, no grid of positions
        tr = prep.frame[spec.time].to_numpy(float) if spec.time else np.zeros(len(prep.y))
        ld = build_subject_data(prep.y, prep.X, prep.subject, tr, s)
        if ld is not None:
            t, labels = ld.display_grid()
    if ld is None:
        pos, t, labels = _positions(spec, prep, s)
        ld = build_long_data(prep.y, prep.X, prep.subject, pos, t)
    reml = spec.method == "reml"
    opt = fit_covariance(ld, s, reml)
    ev = opt.evaluation
    warnings = list(opt.warnings)
    need_deriv = spec.df in ("satterthwaite", "kenward-roger", "kenward-roger-linear")
    # W for KR: observed information for MMRM structures (SAS PROC MIXED, mmrm), expected
    # information for random-effects structures (pbkrtest); Satterthwaite: observed (SAS, lmerTest)
    info = "expected" if (s.kind == "re" and spec.df.startswith("kenward")) else "observed"
    st = inf.prepare(ld, s, opt.phi, ev, reml, info) if need_deriv else None
    if st is not None:
        warnings += st.warnings
    kr = None
    vcov = ev.Minv
    if spec.df.startswith("kenward"):
        kr = inf.kenward_roger(ld, s, st, ev, linear=spec.df == "kenward-roger-linear")
        vcov = kr.vcov_adj
    if spec.vcov == "sandwich":
        vcov = inf.sandwich(ld, ev)
    bw = None
    if spec.df == "between-within":
        kept_terms = [prep.formula.term_of_column[prep.formula.columns.index(c)] for c in prep.columns]
        bw, bw_warn = between_within(prep.X, prep.subject, kept_terms, prep.formula.terms,
                                     set(prep.formula.factor_levels), _within_vars(prep, spec), spec.covariance)
        warnings += bw_warn

    def df_raw(c):
        if spec.df == "satterthwaite":
            return inf.satterthwaite_df(st, c)
        if kr is not None:
            return inf.kr_df(st, kr, c[None])[1]
        if spec.df == "residual":
            return float(ld.n_obs - ld.p)
        if spec.df == "between-within":
            return float(np.min(bw[np.abs(c) > 1e-12])) if np.any(np.abs(c) > 1e-12) else np.nan
        return np.inf

    def df_of(c):
        """The df method's value; a non-computable Satterthwaite/KR df becomes inf (z test), flagged."""
        d = df_raw(c)
        if need_deriv and not (np.isfinite(d) and d > 0):
            return np.inf
        return float(d)

    def fell_back(d):
        return need_deriv and not np.isfinite(d)

    rows = []
    kept = list(prep.columns)
    n_fallback = 0
    for term in prep.all_columns:
        if term not in kept:
            rows.append({"term": term, **{k: np.nan for k in PARAM_COLUMNS[1:]}})
            continue
        j = kept.index(term)
        c = np.eye(ld.p)[j]
        est, se, df = float(ev.beta[j]), float(np.sqrt(vcov[j, j])), df_of(c)
        n_fallback += fell_back(df)
        lo, hi, p = t_interval(est, se, df, level)
        rows.append({"term": term, "estimate": est, "std_error": se, "df": df, "statistic": est / se,
                     "p_value": p, "conf_low": lo, "conf_high": hi})
    params = pd.DataFrame(rows, columns=list(PARAM_COLUMNS))

    grid = effect_grid(spec, prep)
    g, L, C = grid
    ests = C @ ev.beta
    ses = np.sqrt(np.einsum("ip,pq,iq->i", C, vcov, C))
    dfs = [df_of(c) for c in C]
    fallback = [fell_back(d) for d in dfs]
    n_fallback += sum(fallback)
    if n_fallback:
        warnings.append(f"{spec.df} df could not be computed for {n_fallback} coefficient(s)/contrast(s); "
                        "z tests (df = inf) were used there (df_fallback = True)")
    singular = singular_message(s, opt.phi, t)
    if singular:
        warnings.append(f"singular fit: {singular}")
    warnings = list(dict.fromkeys([*prep.warnings, *warnings]))
    effects = build_effects(spec, prep, grid, ests, ses, dfs, "native", longmod.__version__, level,
                            df_method=spec.df, df_fallback=fallback, warnings=warnings)
    lsm = g.copy()
    lsm["estimate"] = L @ ev.beta
    lsm["std_error"] = np.sqrt(np.einsum("ip,pq,iq->i", L, vcov, L))
    lsm["df"] = [df_of(r) for r in L]

    t3 = []
    for term, Lt in type3_matrices(prep.formula, prep.frame, kept).items():
        Lb = Lt @ ev.beta
        if spec.df == "satterthwaite":
            F, ddf = inf.satterthwaite_md(st, Lt, vcov)
        elif kr is not None:
            F, ddf, _ = inf.kr_df(st, kr, Lt)
        else:
            F = float(Lb @ np.linalg.solve(Lt @ vcov @ Lt.T, Lb) / Lt.shape[0])
            ddf = min(df_of(r) for r in Lt)
        pF = float(stats.f.sf(F, Lt.shape[0], ddf)) if np.isfinite(ddf) else float(stats.chi2.sf(F * Lt.shape[0], Lt.shape[0]))
        t3.append({"term": term, "num_df": Lt.shape[0], "den_df": ddf, "F": F, "p_value": pF})

    names = s.names(labels)
    covariance = pd.DataFrame({"parameter": names, "estimate": opt.phi}, columns=list(COVARIANCE_COLUMNS))
    S, nug = s.sigma(opt.phi, t)
    q, n_subj = len(opt.phi), ld.n_subjects
    k_ic = q + (0 if reml else ld.p)
    fit_stats = {
        "method": spec.method, "log_likelihood": -0.5 * opt.value, "neg2_log_likelihood": opt.value,
        "aic": opt.value + 2 * k_ic, "bic": opt.value + np.log(n_subj) * k_ic,
        "n_obs": ld.n_obs, "n_patients": n_subj, "n_cov_params": q, "covariance": spec.covariance,
        "df_method": spec.df, "vcov_method": spec.vcov, "n_dropped": int(prep.n_dropped),
        "singular": bool(singular), "formula": _formula_text(spec),
    }
    conv = Convergence(opt.converged, opt.optimizer, opt.iterations, opt.gradient_norm, tuple(warnings))
    extras = {
        "lsmeans": lsm, "type3": pd.DataFrame(t3), "vcov": pd.DataFrame(vcov, index=kept, columns=kept),
        "vcov_model": pd.DataFrame(ev.Minv, index=kept, columns=kept),
        "covariance_matrix": pd.DataFrame(np.real(S) + float(np.real(nug)) * np.eye(len(t)), index=labels, columns=labels),
    }
    model = LinearInference(prep.formula, prep.frame, tuple(kept), np.asarray(ev.beta, float), np.asarray(vcov, float),
                            spec.df, df_of)
    return FitResult("native", longmod.__version__, effects, params, covariance, fit_stats, conv,
                     provenance(spec, prep, longmod.__version__), extras, model=model)


def _formula_text(spec: ModelSpec) -> str:
    """The model as one formula string (the spec's own formula when it has one)."""
    if spec.formula:
        return spec.formula
    s = COVARIANCE_TABLE[spec.covariance]
    if s.kind == "mmrm":
        extra = f"{spec.covariance}({spec.visit} | {spec.subject})"
    elif s.kind == "spatial":
        extra = f"{spec.covariance}({spec.time} | {spec.subject})"
    elif spec.covariance == "ri":
        extra = f"(1 | {spec.subject})"
    elif spec.covariance == "ris":
        extra = f"(1 + {spec.time} | {spec.subject})"
    else:
        extra = f"(1 | {spec.subject}) + (0 + {spec.time} | {spec.subject})"
    return f"{spec.outcome} ~ {spec.fixed} + {extra}"
