"""``fit_model(spec, data)``: one entry point over every engine (ancova, native, statsmodels, lme4, pymc).

The registry is data: engine name -> (module, check function, fit function),
imported lazily so ``import longmod`` never pulls in statsmodels, PyMC or R.
Every spec/engine pair is validated before any fitting. :func:`engine_unavailable`
says, without importing the engine, whether an optional engine can run here
(the pipeline asks it at the start of a run).
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import shutil
import subprocess
from types import MappingProxyType

import pandas as pd

from longmod.results.fit import FitResult
from longmod.spec.model import ModelSpec, SpecError

#: engine -> (module, check function, fit function)
ENGINE_TABLE = MappingProxyType({
    "ancova": ("longmod.engines.ancova", "check_spec", "fit_spec"),
    "native": ("longmod.engines.native", "check_spec", "fit_native"),
    "statsmodels": ("longmod.engines.statsmodels_lmm", "check_spec", "fit_statsmodels"),
    "lme4": ("longmod.engines.lme4", "check_spec", "fit_lme4"),
    "pymc": ("longmod.engines.registry", "_check_pymc", "_fit_pymc"),
})

#: engine -> (Python modules it imports, R packages it needs, how to install what is missing)
ENGINE_REQUIREMENTS = MappingProxyType({
    "statsmodels": (("statsmodels",), (), "pip install statsmodels"),
    "lme4": (("rpy2", "pymer4"), ("lme4", "lmerTest", "emmeans", "pbkrtest"),
             "install longmod[lme4] and R (Debian: apt-get install r-base-core r-cran-lme4 r-cran-lmertest "
             "r-cran-emmeans r-cran-pbkrtest)"),
    "pymc": (("pymc", "arviz", "nutpie"), (), "install longmod[bayes]"),
})


@functools.lru_cache(maxsize=None)
def engine_unavailable(engine: str) -> str | None:
    """Why ``engine`` cannot run here (``"not run: install ... (missing: ...)"``), or None when it can.

    Checked without importing the engine: its Python modules are looked up,
    and for lme4 R itself and its packages (one short ``Rscript`` call, cached
    for the process).

    Examples
    --------
    >>> engine_unavailable("native") is None
    True
    """
    if engine not in ENGINE_REQUIREMENTS:
        return None
    modules, r_packages, hint = ENGINE_REQUIREMENTS[engine]
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if r_packages:
        rscript = shutil.which("Rscript")
        if rscript is None:
            missing.append("R (Rscript)")
        else:
            code = f"for (p in c({', '.join(repr(x) for x in r_packages)})) if (!requireNamespace(p, quietly = TRUE)) cat(p, '')"
            try:
                out = subprocess.run([rscript, "--vanilla", "-e", code], capture_output=True, text=True, timeout=60)
                missing += [f"R package {p}" for p in out.stdout.split()]
            except (OSError, subprocess.SubprocessError) as exc:
                missing.append(f"R (Rscript failed: {exc})")
    return f"not run: {hint} (missing: {', '.join(missing)})" if missing else None


def _check_pymc(spec: ModelSpec) -> None:
    """The Bayesian engine fits an ANCOVA (no visit), an LMM (ri/ris) or an MMRM (us)."""
    if spec.visit is not None and spec.covariance not in ("us", "ri", "ris"):
        raise SpecError(f"model {spec.name!r}: the pymc engine supports covariance us, ri, ris for long data "
                        f"(got {spec.covariance!r})")


def _fit_pymc(spec: ModelSpec, data: pd.DataFrame) -> FitResult:
    from longmod.engines.bayes import fit_bayes

    return fit_bayes(spec, data)


def _resolve(engine: str, attr_index: int):
    if engine not in ENGINE_TABLE:
        raise SpecError(
            f"engine {engine!r} is not served by longmod.engines.registry.fit_model; "
            f"supported: {', '.join(ENGINE_TABLE)}"
        )
    mod = importlib.import_module(ENGINE_TABLE[engine][0])
    return getattr(mod, ENGINE_TABLE[engine][attr_index])


def check_model(spec: ModelSpec, engine: str | None = None) -> None:
    """Raise :class:`SpecError` if ``engine`` (default ``spec.engine``) cannot fit ``spec``.

    Examples
    --------
    >>> from longmod.spec import ModelSpec
    >>> spec = ModelSpec(name="m", outcome="y", fixed="x", subject="id", visit="v", covariance="us")
    >>> check_model(spec, "statsmodels")
    Traceback (most recent call last):
    ...
    longmod.spec.model.SpecError: model 'm': statsmodels engine supports covariance ri, ris (got 'us'); use engine='native' for MMRM structures
    """
    _resolve(engine or spec.engine, 1)(spec)


def fit_model(spec: ModelSpec, data: pd.DataFrame, engine: str | None = None) -> FitResult:
    """Validate ``spec`` for its engine, then fit.

    Parameters
    ----------
    spec : ModelSpec
    data : pandas.DataFrame
        Long-format data (never modified).
    engine : str, optional
        Override ``spec.engine`` (``"ancova"``, ``"native"``, ``"statsmodels"``, ``"lme4"``, ``"pymc"``).

    Returns
    -------
    FitResult
        Effects in the common schema (one row per visit contrast plus a
        ``visit`` column), params, covariance parameters, fit statistics,
        convergence and provenance.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from longmod.spec import ModelSpec, Treatment
    >>> rng = np.random.default_rng(0)
    >>> d = pd.DataFrame({"id": np.repeat(np.arange(30), 2), "v": np.tile(["D1", "D7"], 30),
    ...                   "arm": np.repeat(["P", "T"], 30), "y": rng.normal(size=60)})
    >>> spec = ModelSpec(name="m", outcome="y", fixed="arm * v", subject="id", visit="v",
    ...                  covariance="us", df="kenward-roger", treatment=Treatment("arm", "P", "T"))
    >>> fit_model(spec, d).effects["day"].tolist()
    [1.0, 7.0]
    """
    engine = engine or spec.engine
    check_model(spec, engine)
    return _resolve(engine, 2)(spec, data)
