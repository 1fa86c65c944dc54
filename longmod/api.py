"""The methodologist's front door: ``longmod.mmrm``, ``longmod.lmm``, ``longmod.bayes``, ``longmod.fit``.

Each takes one model formula as R users write it (mmrm, lme4, brms) and a long data
frame, builds a :class:`~longmod.spec.model.ModelSpec` and fits it through the engine
registry. Results are :class:`~longmod.results.fit.FitResult` objects with
``summary()``, ``lsmeans()`` and ``contrast()``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from longmod.spec.formula import FormulaError
from longmod.spec.model import DF_METHODS, ModelSpec, SpecError, Treatment
from longmod.spec.model_formula import RANDOM_STRUCTURES, TIME_STRUCTURES, VISIT_STRUCTURES, parse_model_formula

_DF_ALIASES = {"kr": "kenward-roger", "kenward-roger": "kenward-roger", "kenwardroger": "kenward-roger",
               "kenward-roger-linear": "kenward-roger-linear", "satterthwaite": "satterthwaite",
               "residual": "residual", "between-within": "between-within", "bw": "between-within",
               "betwithin": "between-within", "asymptotic": "asymptotic", "z": "asymptotic", "normal": "asymptotic"}


def _df(df: str) -> str:
    key = str(df).strip().lower().replace(" ", "-").replace("_", "-")
    if key not in _DF_ALIASES:
        raise SpecError(f"df = {df!r} is not supported; choose one of {', '.join(DF_METHODS)}")
    return _DF_ALIASES[key]


def _vcov(vcov: str) -> str:
    key = str(vcov).strip().lower()
    return {"empirical": "sandwich", "sandwich": "sandwich", "model": "model", "asymptotic": "model"}.get(key, key)


def _treatment(treatment: Any, fixed: str, data: pd.DataFrame, levels: Mapping | None) -> Treatment | None:
    """``None``, a Treatment, a mapping, ``(variable, reference, active)`` or a variable name."""
    if treatment is None or isinstance(treatment, Treatment):
        return treatment
    if isinstance(treatment, Mapping):
        return Treatment(**treatment)
    if isinstance(treatment, (tuple, list)):
        if len(treatment) != 3:
            raise SpecError(f"treatment={treatment!r}: give (variable, reference, active)")
        return Treatment(*map(str, treatment))
    var = str(treatment)
    if var not in data.columns:
        raise SpecError(f"treatment variable {var!r} is not a column; available columns: {', '.join(map(str, data.columns))}")
    from longmod.spec.formula import Formula

    try:
        f = Formula.from_data(fixed, data.dropna(subset=[var]), levels)
    except FormulaError as exc:
        raise SpecError(str(exc)) from None
    if var not in f.factor_levels:
        raise SpecError(f"treatment variable {var!r} is not a categorical term of {fixed!r}; write C({var}) "
                        f"or declare levels={{{var!r}: [...]}}")
    lv = f.factor_levels[var]
    if len(lv) != 2:
        raise SpecError(f"treatment {var!r} has {len(lv)} levels {list(lv)}: give treatment=({var!r}, reference, active)")
    return Treatment(var, lv[0], lv[1])


def _spec(formula: str, data: pd.DataFrame, allowed: Sequence[str], family: str, hint: str, **kw: Any) -> ModelSpec:
    try:
        mf = parse_model_formula(formula)
    except FormulaError as exc:
        raise SpecError(str(exc)) from None
    if mf.outcome is None:
        raise SpecError(f"formula {formula!r} has no outcome: write 'outcome ~ ...'")
    if mf.covariance not in allowed:
        got = "no covariance or random-effects term" if mf.covariance is None else f"{mf.covariance!r}"
        raise SpecError(f"{family}: formula {formula!r} has {got}; {hint}")
    levels = {k: list(v) for k, v in (kw.pop("levels", None) or {}).items()}
    treatment = _treatment(kw.pop("treatment", None), mf.fixed, data, levels)
    return ModelSpec(formula=formula, treatment=treatment, levels=levels, **kw)


def mmrm(formula: str, data: pd.DataFrame, *, reml: bool = True, df: str = "kenward-roger", vcov: str = "model",
         treatment: Any = None, levels: Mapping[str, Sequence] | None = None, time: str | None = None,
         visit: str | None = None, engine: str = "native", name: str = "mmrm", level: float = 0.95):
    """Fit a mixed model for repeated measures, written as in R's mmrm.

    Parameters
    ----------
    formula : str
        ``"outcome ~ fixed effects + cov(visit | subject)"`` with ``cov`` one of us, cs,
        csh, ar1, ar1h, toep, toeph, ad, adh, ind, or ``sp_exp(time | subject)``. Fixed
        effects use formulaic syntax (``C(x)``, ``C(x, Treatment("ref"))``, ``I(x**2)``,
        ``log(x)``, interactions).
    data : pandas.DataFrame
        Long data, one row per patient and visit (never modified; rows with missing
        values are dropped, counted and reported).
    reml : bool
        REML (default) or ML.
    df : str
        ``"kenward-roger"`` (default), ``"kenward-roger-linear"``, ``"satterthwaite"``,
        ``"residual"``, ``"between-within"`` or ``"asymptotic"``.
    vcov : {"model", "sandwich"}
        Model-based or empirical (``"empirical"`` is accepted as in mmrm).
    treatment : str, tuple or Treatment, optional
        The randomised comparison reported in ``fit.effects``: a two-level column
        (reference = its first level), or ``(variable, reference, active)``. Without it
        ``fit.effects`` is empty; ``lsmeans()``/``contrast()`` work either way.
    levels : mapping, optional
        Level order per column (first = reference; visits in time order).
    time : str, optional
        Numeric time column: orders the visits (``D14`` after ``D2``) when ``levels``
        does not.
    visit : str, optional
        With ``sp_exp(time | subject)``: the categorical visit column of the fixed
        effects, so that ``fit.effects`` has one treatment contrast per visit (a
        covariance over visits names its visit itself).
    engine : str
        ``"native"`` (the only engine with MMRM structures).
    name : str
        Analysis name in the result tables.
    level : float
        Confidence level.

    Returns
    -------
    FitResult
        With ``summary()``, ``lsmeans()`` and ``contrast()``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import longmod
    >>> rng = np.random.default_rng(7)
    >>> d = pd.DataFrame({"id": np.repeat(np.arange(30), 3), "visit": np.tile(["D1", "D7", "D14"], 30),
    ...                   "day": np.tile([1, 7, 14], 30), "arm": np.repeat(["ctl", "trt"], 45)})
    >>> d["y"] = rng.normal(size=90) + np.repeat(rng.normal(size=30), 3)
    >>> fit = longmod.mmrm("y ~ arm * visit + ar1(visit | id)", d, time="day", treatment="arm")
    >>> fit.effects["visit"].tolist()
    ['D1', 'D7', 'D14']
    """
    from longmod.engines.registry import fit_model

    spec = _spec(formula, data, VISIT_STRUCTURES + TIME_STRUCTURES, "mmrm()",
                 "an MMRM needs one covariance term such as us(visit | subject) or sp_exp(time | subject); "
                 "random effects (1 + t | id) go to longmod.lmm()",
                 name=name, method="reml" if reml else "ml", df=_df(df), vcov=_vcov(vcov), engine=engine,
                 treatment=treatment, levels=levels, time=time, visit=visit)
    return fit_model(spec, data)


def lmm(formula: str, data: pd.DataFrame, *, reml: bool = True, df: str = "satterthwaite", engine: str = "native",
        treatment: Any = None, levels: Mapping[str, Sequence] | None = None, visit: str | None = None,
        name: str = "lmm", level: float = 0.95):
    """Fit a linear mixed model with random effects, written as in lme4.

    Parameters
    ----------
    formula : str
        ``"outcome ~ fixed + (1 | g)"``, ``"(1 + t | g)"``, ``"(1 | g) + (0 + t | g)"`` or
        ``"(1 + t || g)"`` with one numeric ``t``; other random-effects structures are
        refused with a message naming these.
    data : pandas.DataFrame
        Long data (never modified).
    reml : bool
    df : str
        ``"satterthwaite"`` (default, lmerTest's), ``"kenward-roger"`` (pbkrtest's),
        ``"residual"``, ``"asymptotic"``. The statsmodels engine gives z tests only
        (``df="asymptotic"``).
    engine : {"native", "lme4", "statsmodels"}
    treatment, levels, name, level
        As in :func:`mmrm`.
    visit : str, optional
        A categorical visit column of the fixed effects: ``fit.effects`` then has one
        treatment contrast per visit.

    Returns
    -------
    FitResult

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import longmod
    >>> rng = np.random.default_rng(8)
    >>> d = pd.DataFrame({"g": np.repeat(np.arange(20), 5), "t": np.tile(np.arange(5.0), 20)})
    >>> d["y"] = 1 + 0.5 * d["t"] + np.repeat(rng.normal(size=20), 5) + rng.normal(size=100)
    >>> fit = longmod.lmm("y ~ t + (1 + t | g)", d)
    >>> fit.fit_stats["covariance"], fit.params["term"].tolist()
    ('ris', ['(Intercept)', 't'])
    """
    from longmod.engines.registry import fit_model

    spec = _spec(formula, data, RANDOM_STRUCTURES, "lmm()",
                 "an LMM needs random effects such as (1 | id) or (1 + t | id); covariance terms such as "
                 "us(visit | id) go to longmod.mmrm()",
                 name=name, method="reml" if reml else "ml", df=_df(df), engine=engine, treatment=treatment,
                 levels=levels, visit=visit)
    return fit_model(spec, data)


def bayes(formula: str, data: pd.DataFrame, *, priors: Mapping[str, Any] | None = None,
          sampler: Mapping[str, Any] | None = None, treatment: Any = None,
          levels: Mapping[str, Sequence] | None = None, visit: str | None = None, subject: str | None = None,
          name: str = "bayes", mcid: float | None = None, **kwargs: Any):
    """Fit a Bayesian model with the same formulas (thin front door to the Bayesian engine).

    ``"y ~ arm * visit + us(visit | id)"`` (MMRM), ``"y ~ arm * visit + (1 + day | id)"``
    (LMM; give ``visit=`` for per-visit effects), or ``"change ~ arm + baseline"`` with
    ``subject=`` (ANCOVA, one row per patient). Priors, sampler settings and the
    structures supported are the engine's: see :func:`longmod.engines.bayes.fit_bayes`.

    Returns
    -------
    FitResult
        Effects with posterior summaries; ``extras["inference_data"]``.

    Examples
    --------
    >>> fit = longmod.bayes("y ~ arm * visit + us(visit | id)", d, treatment="arm",
    ...                     sampler={"chains": 2, "draws": 500, "seed": 1})  # doctest: +SKIP
    """
    from longmod.engines.bayes import fit_bayes

    try:
        mf = parse_model_formula(formula)
    except FormulaError as exc:
        raise SpecError(str(exc)) from None
    lv = {k: list(v) for k, v in (levels or {}).items()}
    spec = ModelSpec(name=name, formula=formula, engine="pymc", priors=dict(priors or {}), sampler=dict(sampler or {}),
                     treatment=_treatment(treatment, mf.fixed, data, lv), levels=lv, visit=visit,
                     subject=subject, mcid=mcid)
    return fit_bayes(spec, data, **kwargs)


def fit(spec: ModelSpec | Mapping[str, Any] | str | Path, data: pd.DataFrame, *, engine: str | None = None):
    """Fit a :class:`ModelSpec` (or a TOML spec file, or a ``[model]``-like mapping) to ``data``.

    ``engine="pymc"`` (or a spec with that engine) goes to the Bayesian engine, any other
    to :func:`longmod.engines.registry.fit_model`.

    Examples
    --------
    >>> import longmod
    >>> from longmod.resources import models_dir
    >>> import pandas as pd
    >>> fev = pd.read_csv(longmod_tests_fev)  # doctest: +SKIP
    >>> longmod.fit(models_dir() / "examples" / "fev_data_us_reml.toml", fev)  # doctest: +SKIP
    """
    from longmod.spec.model import load_model_spec

    if isinstance(spec, (str, Path)):
        spec = load_model_spec(spec)
    elif isinstance(spec, Mapping):
        spec = ModelSpec.from_mapping(spec)
    engine = engine or spec.engine
    if engine == "pymc":
        from longmod.engines.bayes import fit_bayes

        return fit_bayes(spec, data)
    from longmod.engines.registry import fit_model

    return fit_model(spec, data, engine=engine)
