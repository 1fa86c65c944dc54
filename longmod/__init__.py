"""longmod: re-analyse small randomised ICU trials with longitudinal models.

The public API, imported lazily (``import longmod`` loads none of NumPy, pandas,
formulaic, statsmodels, PyMC or R until a function is used):

* :func:`longmod.mmrm` -- ``mmrm("FEV1 ~ ARMCD * AVISIT + us(AVISIT | USUBJID)", data)``
* :func:`longmod.lmm` -- ``lmm("Reaction ~ Days + (1 + Days | Subject)", data)``
* :func:`longmod.bayes` -- the same formulas, Bayesian engine
* :func:`longmod.fit` -- a ModelSpec or TOML spec file
* :func:`longmod.reanalyse`, :func:`longmod.load_trial` -- whole trials
* :class:`longmod.ModelSpec`, :class:`longmod.Treatment`
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "mmrm": ("longmod.api", "mmrm"),
    "lmm": ("longmod.api", "lmm"),
    "bayes": ("longmod.api", "bayes"),
    "fit": ("longmod.api", "fit"),
    "load_trial": ("longmod.data.load", "load_trial"),
    "ModelSpec": ("longmod.spec.model", "ModelSpec"),
    "Treatment": ("longmod.spec.model", "Treatment"),
    "FitResult": ("longmod.results.fit", "FitResult"),
}

__all__ = ["__version__", "mmrm", "lmm", "bayes", "fit", "reanalyse", "load_trial", "ModelSpec", "Treatment",
           "FitResult"]


def __getattr__(name: str) -> Any:
    if name == "reanalyse":  # the pipeline package when present, else the older module
        for mod in ("longmod.pipeline", "longmod.reanalyse"):
            try:
                m = importlib.import_module(mod)
            except ModuleNotFoundError as exc:
                if exc.name != mod:
                    raise
                continue
            if hasattr(m, "reanalyse"):
                return m.reanalyse
        raise AttributeError("module 'longmod' has no attribute 'reanalyse' (no longmod.pipeline or longmod.reanalyse)")
    if name in _LAZY:
        mod, attr = _LAZY[name]
        return getattr(importlib.import_module(mod), attr)
    raise AttributeError(f"module 'longmod' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
