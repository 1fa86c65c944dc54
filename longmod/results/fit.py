"""FitResult: what every engine returns, with convergence and provenance as data."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from longmod.results.schema import EFFECT_COLUMNS
from longmod.results.writing import atomic_output_dir

PARAM_COLUMNS: tuple[str, ...] = (
    "term", "estimate", "std_error", "df", "statistic", "p_value", "conf_low", "conf_high",
)
COVARIANCE_COLUMNS: tuple[str, ...] = ("parameter", "estimate")


@dataclass(frozen=True)
class Convergence:
    """How the optimiser or sampler ended.

    ``converged`` is False whenever the engine had any doubt; ``warnings``
    keeps every message the backend produced (never filtered away).
    """

    converged: bool
    optimizer: str = ""
    iterations: int | None = None
    gradient_norm: float | None = None
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON friendly)."""
        return {
            "converged": bool(self.converged),
            "optimizer": self.optimizer,
            "iterations": self.iterations,
            "gradient_norm": self.gradient_norm,
            "warnings": list(self.warnings),
        }


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, Mapping):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if hasattr(v, "item"):
        return _clean(v.item())
    return v


@dataclass(frozen=True)
class FitResult:
    """Result of one model fit, in tidy tables.

    Attributes
    ----------
    engine, engine_version : str
    effects : pandas.DataFrame
        Treatment effects in the common schema (:data:`EFFECT_COLUMNS`).
    params : pandas.DataFrame
        Fixed-effect coefficients: ``term`` (R naming, e.g.
        ``ARMCDTRT:AVISITVIS2``), ``estimate``, ``std_error``, ``df``,
        ``statistic``, ``p_value``, ``conf_low``, ``conf_high``.
    covariance : pandas.DataFrame
        Covariance parameters: ``parameter``, ``estimate``.
    fit_stats : mapping
        ``method``, ``log_likelihood``, ``neg2_log_likelihood``, ``aic``,
        ``bic``, ``n_obs``, ``n_patients`` (as available).
    convergence : Convergence
    provenance : mapping
        longmod and engine versions, spec hash, data sha256, seed.
    extras : mapping
        Engine-specific objects (e.g. LS means table, InferenceData).
    """

    engine: str
    engine_version: str
    effects: pd.DataFrame
    params: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=PARAM_COLUMNS))
    covariance: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=COVARIANCE_COLUMNS))
    fit_stats: Mapping[str, Any] = field(default_factory=dict)
    convergence: Convergence = field(default_factory=lambda: Convergence(converged=True))
    provenance: Mapping[str, Any] = field(default_factory=dict)
    extras: Mapping[str, Any] = field(default_factory=dict)

    def fit_json(self) -> dict[str, Any]:
        """The content of ``fit.json``."""
        return _clean(
            {
                "engine": self.engine,
                "engine_version": self.engine_version,
                **dict(self.fit_stats),
                **self.convergence.to_dict(),
                "provenance": dict(self.provenance),
            }
        )

    def write(self, out_dir: str | Path) -> Path:
        """Write ``effects.csv``, ``params.csv``, ``covariance.csv`` and ``fit.json``, and
        ``lsmeans.csv`` and ``type3.csv`` when the engine computed them (native engine).

        The folder is written whole or not at all (files go to a temporary
        sibling folder that is renamed into place).
        """
        with atomic_output_dir(out_dir) as tmp:
            self.effects.reindex(columns=list(dict.fromkeys([*EFFECT_COLUMNS, *self.effects.columns]))).to_csv(
                tmp / "effects.csv", index=False
            )
            self.params.to_csv(tmp / "params.csv", index=False)
            self.covariance.to_csv(tmp / "covariance.csv", index=False)
            (tmp / "fit.json").write_text(json.dumps(self.fit_json(), indent=2, sort_keys=False) + "\n")
            for name in ("lsmeans", "type3"):
                table = self.extras.get(name)
                if isinstance(table, pd.DataFrame) and not table.empty:
                    table.to_csv(tmp / f"{name}.csv", index=False)
        return Path(out_dir)
