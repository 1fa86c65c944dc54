"""``fit_model(spec, data)``: one entry point over the frequentist longitudinal engines.

The registry is data: engine name -> (module, check function, fit function),
imported lazily so ``import longmod`` never pulls in statsmodels or R.
Every spec/engine pair is validated before any fitting.
"""

from __future__ import annotations

import importlib
from types import MappingProxyType

import pandas as pd

from longmod.results.fit import FitResult
from longmod.spec.model import ModelSpec, SpecError

#: engine -> (module, check function, fit function)
ENGINE_TABLE = MappingProxyType({
    "native": ("longmod.engines.native", "check_spec", "fit_native"),
    "statsmodels": ("longmod.engines.statsmodels_lmm", "check_spec", "fit_statsmodels"),
    "lme4": ("longmod.engines.lme4", "check_spec", "fit_lme4"),
})


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
        Override ``spec.engine`` (``"native"``, ``"statsmodels"``, ``"lme4"``).

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
