"""Native Gaussian engine: MMRM and random-effects LMM from one covariance table.

Supported options (checked by :func:`check_spec` before any fitting):

* ``covariance``: every entry of :data:`longmod.engines.core.covariance.COVARIANCE_TABLE`
  (us, ind, cs, csh, ar1, ar1h, toep, toeph, ad, adh, ri, ris);
* ``method``: reml, ml;
* ``vcov="model"`` with ``df`` satterthwaite, kenward-roger, kenward-roger-linear,
  residual, between-within, asymptotic;
* ``vcov="sandwich"`` (CR0, SAS EMPIRICAL) with ``df`` between-within, residual, asymptotic.

Kenward-Roger needs REML. Its W (asymptotic covariance of the covariance
parameters) is the inverse observed information for MMRM structures, which
reproduces SAS PROC MIXED DDFM=KR, and the inverse expected information for
``ri``/``ris``, which reproduces pbkrtest (R's KR for lme4 fits).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

import longmod
from longmod.engines.core import inference as inf
from longmod.engines.core.covariance import COVARIANCE_TABLE, get_structure
from longmod.engines.core.likelihood import build_long_data
from longmod.engines.core.lsmeans import type3_matrices
from longmod.engines.core.ops import blas_controller
from longmod.engines.core.optimize import fit_covariance
from longmod.engines.core.woodbury import build_subject_data
from longmod.engines.core.prepare import build_effects, effect_grid, prepare, provenance
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
    if spec.covariance == "ris" and not spec.time:
        raise SpecError(f"{where}: covariance 'ris' needs `time` (the numeric slope variable)")
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
    if spec.covariance == "ris":
        tt = fr[spec.time].to_numpy(float)
        uniq, pos = np.unique(tt, return_inverse=True)
        if len(uniq) > MAX_POSITIONS:
            raise SpecError(
                f"model {spec.name!r}: 'ris' uses the distinct values of {spec.time!r} as positions and found "
                f"{len(uniq)} (> {MAX_POSITIONS}); round the time variable (e.g. to days)"
            )
        return pos, uniq, [f"{x:g}" for x in uniq]
    pos = fr.groupby(prep.subject).cumcount().to_numpy()
    K = int(pos.max()) + 1 if len(pos) else 1
    return pos, np.arange(1.0, K + 1), [str(k + 1) for k in range(K)]


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
    bw = inf.between_within_df(ld) if spec.df == "between-within" else None

    def df_of(c):
        if spec.df == "satterthwaite":
            return inf.satterthwaite_df(st, c)
        if kr is not None:
            return inf.kr_df(st, kr, c[None])[1]
        if spec.df == "residual":
            return float(ld.n_obs - ld.p)
        if spec.df == "between-within":
            return float(np.min(bw[np.abs(c) > 1e-12])) if np.any(np.abs(c) > 1e-12) else np.nan
        return np.inf

    rows = []
    kept = list(prep.columns)
    for term in prep.all_columns:
        if term not in kept:
            rows.append({"term": term, **{k: np.nan for k in PARAM_COLUMNS[1:]}})
            continue
        j = kept.index(term)
        c = np.eye(ld.p)[j]
        est, se, df = float(ev.beta[j]), float(np.sqrt(vcov[j, j])), df_of(c)
        lo, hi, p = t_interval(est, se, df, level)
        rows.append({"term": term, "estimate": est, "std_error": se, "df": df, "statistic": est / se,
                     "p_value": p, "conf_low": lo, "conf_high": hi})
    params = pd.DataFrame(rows, columns=list(PARAM_COLUMNS))

    grid = effect_grid(spec, prep)
    g, L, C = grid
    ests = C @ ev.beta
    ses = np.sqrt(np.einsum("ip,pq,iq->i", C, vcov, C))
    dfs = [df_of(c) for c in C]
    effects = build_effects(spec, prep, grid, ests, ses, dfs, "native", longmod.__version__, level)
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
        "df_method": spec.df, "vcov_method": spec.vcov,
    }
    conv = Convergence(opt.converged, opt.optimizer, opt.iterations, opt.gradient_norm, tuple(warnings))
    extras = {
        "lsmeans": lsm, "type3": pd.DataFrame(t3), "vcov": pd.DataFrame(vcov, index=kept, columns=kept),
        "vcov_model": pd.DataFrame(ev.Minv, index=kept, columns=kept),
        "covariance_matrix": pd.DataFrame(np.real(S) + float(np.real(nug)) * np.eye(len(t)), index=labels, columns=labels),
    }
    return FitResult("native", longmod.__version__, effects, params, covariance, fit_stats, conv,
                     provenance(spec, prep, longmod.__version__), extras)
