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
    model : LinearInference, optional
        What :meth:`lsmeans` and :meth:`contrast` need (frequentist engines). It holds
        closures over the fit's internals, so it is not pickled: a FitResult sent to
        another process keeps its tables but not ``lsmeans()``/``contrast()``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import longmod
    >>> rng = np.random.default_rng(4)
    >>> d = pd.DataFrame({"id": np.repeat(np.arange(40), 3), "visit": np.tile(["V1", "V2", "V3"], 40),
    ...                   "arm": np.repeat(["ctl", "trt"], 60)})
    >>> d["y"] = rng.normal(size=120) + np.repeat(rng.normal(size=40), 3)
    >>> fit = longmod.mmrm("y ~ arm * visit + cs(visit | id)", d, treatment="arm", df="satterthwaite")
    >>> fit.lsmeans("arm", by="visit").shape
    (6, 9)
    >>> fit.contrast("trt.vs.ctrl", specs="arm", by="visit")["contrast"].tolist()
    ['trt - ctl', 'trt - ctl', 'trt - ctl']
    >>> print(fit.summary().splitlines()[1])
    Formula: y ~ arm * visit + cs(visit | id)
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
    model: Any = field(default=None, repr=False, compare=False)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "model": None}

    def __repr__(self) -> str:
        from longmod.results.summary import short_repr

        return short_repr(self)

    def summary(self) -> str:
        """A compact text summary (as lmerTest's / mmrm's ``summary()``): model, fit statistics,
        covariance parameters, fixed effects with the fit's df, treatment effects, warnings."""
        from longmod.results.summary import summary_text

        return summary_text(self)

    def _inference(self):
        if self.model is None:
            raise NotImplementedError(
                f"this {self.engine} result carries no fixed-effects inference for lsmeans()/contrast(): the "
                "frequentist engines (native, lme4, statsmodels) attach it to the results they return, but it is "
                "not kept when a result is pickled; refit in this process"
            )
        return self.model

    def lsmeans(self, specs, by=None, at=None, level: float = 0.95) -> pd.DataFrame:
        """Estimated marginal (least-squares) means, as ``emmeans(fit, specs, by = by)``.

        Parameters
        ----------
        specs : str or list of str
            Variable(s) whose cells get a mean (e.g. ``"ARMCD"`` or ``["ARMCD", "AVISIT"]``).
        by : str or list of str, optional
            Variable(s) to condition on (one block of means per level).
        at : mapping, optional
            Values for grid variables: numeric variables (default: their mean over the
            fitted rows) or a subset of a factor's levels (averaged with equal weights
            when the factor is not in ``specs``/``by``).
        level : float
            Confidence level.

        Returns
        -------
        pandas.DataFrame
            The ``specs``/``by`` columns (first ``specs`` variable varies fastest), then
            ``estimate``, ``std_error``, ``df`` (the fit's df method), ``conf_low``,
            ``conf_high``, ``df_method``, ``df_fallback``.
        """
        return self._inference().lsmeans(specs, by=by, at=at, level=level)

    def contrast(self, method="pairwise", specs=None, by=None, at=None, ref=0, level: float = 0.95,
                 adjust: str = "none") -> pd.DataFrame:
        """Linear contrasts of estimated marginal means, as ``contrast(emmeans(...), method)``.

        Parameters
        ----------
        method : str, mapping or sequence of float
            ``"pairwise"`` (earlier minus later level, emmeans' order), ``"revpairwise"``,
            ``"trt.vs.ctrl"`` (each level minus ``ref``), ``"consec"``; or
            ``{name: weights}`` / one weight vector over the cells of ``specs`` (first
            variable fastest) within each ``by`` group.
        specs, by, at, level
            As in :meth:`lsmeans` (an average over visits: ``specs="arm"`` with
            ``at={"visit": ["D7", "D14"]}``, or weights over ``specs=["arm", "visit"]``).
        ref : str or int
            Reference level for ``"trt.vs.ctrl"`` (default: the first).
        adjust : {"none"}
            No multiplicity adjustment (stated in the ``adjust`` column).

        Returns
        -------
        pandas.DataFrame
            ``contrast``, the ``by`` columns, ``estimate``, ``std_error``, ``df``,
            ``statistic`` (t), ``p_value``, ``conf_low``, ``conf_high``, ``df_method``,
            ``df_fallback``, ``adjust``.
        """
        return self._inference().contrast(method, specs=specs, by=by, at=at, ref=ref, level=level, adjust=adjust)

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
