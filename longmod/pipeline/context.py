"""RunContext: what an analysis runner may use (trial, plan, analysis data, specs, sampler, outputs)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from longmod.data import TrialData
from longmod.data.meta import VariableInfo
from longmod.estimands import AnalysisData, apply_estimand
from longmod.spec.estimand import Estimand
from longmod.spec.model import ModelSpec, SpecError, Treatment
from longmod.spec.plan import Analysis, AnalysisPlan

#: Columns that describe how long a fit took or how it was compiled; they go to timings.csv, never effects.csv.
TIMING_COLUMNS: tuple[str, ...] = (
    "compile_seconds", "sample_seconds", "numba_compiled", "graphs_compiled", "compile_source", "wall_seconds",
    "seconds",
)


@dataclass
class RunContext:
    """Everything an analysis runner needs, shared by the runs of one plan.

    Attributes
    ----------
    trial : TrialData
    plan : AnalysisPlan
    sampler : mapping or None
        Overrides of the sampler settings of every Bayesian fit
        (``chains``, ``draws``, ``tune``, ``seed``).
    unavailable : mapping of str to str
        Engines that cannot run here -> the "not run: install ..." reason
        (found at the start of the run).
    posteriors : dict
        Runners store each Bayesian fit's ``(InferenceData, provenance)``
        here under a unique key (written as ``posteriors/<key>.nc``).
    figures : dict
        Runners may store extra matplotlib figures here by file stem.
    timings : list of dict
        Rows of ``timings.csv`` (``analysis``, ``outcome``, ``engine``,
        ``seconds`` and compile facts); see :meth:`record_timing`.
    cache : dict
        Intermediate results runners share within one run (e.g. the
        imputation model's parameter draws of the MI analyses), by key.

    Examples
    --------
    >>> from longmod.pipeline.run import resolve_trial
    >>> from longmod.spec.plan import load_plan
    >>> td, plan = resolve_trial("stroma-cov2")
    >>> ctx = RunContext(td, load_plan(plan), sampler={"chains": 2})
    >>> len(ctx.treatments), ctx.default_covariates()[0], len(ctx.default_covariates())  # baseline + 2 strata
    (1, 'baseline', 3)
    >>> data = ctx.analysis_data("primary")  # computed once, then reused
    >>> data is ctx.analysis_data("primary"), list(ctx.used_analysis_data)
    (True, ['primary'])
    """

    trial: TrialData
    plan: AnalysisPlan
    sampler: Mapping[str, Any] | None = None
    unavailable: Mapping[str, str] = field(default_factory=dict)
    posteriors: dict = field(default_factory=dict)
    figures: dict = field(default_factory=dict)
    timings: list = field(default_factory=list)
    cache: dict = field(default_factory=dict)
    _analysis_data: dict = field(default_factory=dict)

    # --- data -------------------------------------------------------------------------------
    def analysis_data(self, estimand: str) -> AnalysisData:
        """The :class:`AnalysisData` of a declared estimand (computed once per run)."""
        if estimand not in self._analysis_data:
            if estimand not in self.plan.estimands:
                raise KeyError(f"estimand {estimand!r} is not declared in the plan; declared: "
                               f"{', '.join(self.plan.estimands)}")
            self._analysis_data[estimand] = apply_estimand(self.trial, self.plan.estimands[estimand])
        return self._analysis_data[estimand]

    @property
    def used_analysis_data(self) -> dict[str, AnalysisData]:
        """The analysis data computed so far, by estimand name."""
        return dict(self._analysis_data)

    def long_data(self, outcome: str, days: list[int] | None = None, population: str = "mitt") -> pd.DataFrame:
        """Observed post-baseline values of ``outcome`` with every patient covariate (see
        :func:`longmod.estimands.longitudinal.long_analysis_data`)."""
        from longmod.estimands.longitudinal import long_analysis_data

        return long_analysis_data(self.trial, outcome, days=days, population=population)

    # --- design ------------------------------------------------------------------------------
    @property
    def treatments(self) -> tuple[Treatment, ...]:
        """One comparison per active arm, each against the trial's reference arm."""
        m = self.trial.meta
        return Treatment.for_trial(m.arms, m.reference_arm)

    @property
    def arm_levels(self) -> list[str]:
        """Arm levels of every model: the reference first, then the active arms."""
        m = self.trial.meta
        return [m.reference_arm, *m.active_arms]

    def estimand(self, analysis: Analysis) -> Estimand | None:
        """The estimand ``analysis`` targets (None when it targets none)."""
        return self.plan.estimands.get(analysis.estimand) if analysis.estimand else None

    def variable(self, name: str) -> VariableInfo:
        """The trial's declared metadata of a measured variable (MCID, direction of benefit, ...)."""
        return self.trial.meta.variable_info(name)

    def default_covariates(self) -> list[str]:
        """The ANCOVA's default adjustment: the baseline value and the stratification covariates."""
        return ["baseline", *self.trial.meta.stratification]

    def default_fixed(self, longitudinal: bool) -> str:
        """Default fixed effects: ``arm * visit + baseline + <strata>`` (or ``arm + baseline + <strata>``)."""
        return " + ".join(["arm * visit" if longitudinal else "arm", *self.default_covariates()])

    def model_spec(self, analysis: Analysis, *, longitudinal: bool, engine: str) -> ModelSpec:
        """The analysis's :class:`ModelSpec`, from its ``spec`` file or inline ``model`` table.

        longmod fills ``name`` (the analysis), ``outcome = "change"``,
        ``subject = "patient_id"``, ``visit = "visit"`` and ``time = "day"``
        (longitudinal kinds), ``fixed`` (:meth:`default_fixed`) and ``engine``
        when they are not given. The treatment always comes from the trial; a
        spec that declares a different one is an error.
        """
        opts = analysis.options
        where = f"analysis {analysis.name!r}"
        if "spec" in opts:
            from longmod.spec.model import load_model_spec

            path = self.plan.folder / opts["spec"]
            if not path.is_file():
                raise SpecError(f"{where}: spec file {path} not found (spec paths are relative to the plan)")
            spec = load_model_spec(path)
            declared = spec.treatment
        else:
            data = dict(opts.get("model", {}))
            data.setdefault("name", analysis.name)
            data.setdefault("outcome", "change")
            data.setdefault("subject", "patient_id")
            if longitudinal:
                data.setdefault("visit", "visit")
                data.setdefault("time", "day")
            data.setdefault("fixed", self.default_fixed(longitudinal))
            data.setdefault("engine", engine)
            spec = ModelSpec.from_mapping(data, where=f"{where}: model")
            declared = spec.treatment
        if declared.is_declared or declared.variable != "arm":
            ok = declared.variable == "arm" and declared.reference == self.trial.meta.reference_arm and \
                declared.active in self.trial.meta.active_arms
            if not ok:
                raise SpecError(f"{where}: the model declares the treatment {declared}, but the comparison comes "
                                f"from trial.toml (arm: {', '.join(self.trial.meta.active_arms)} vs "
                                f"{self.trial.meta.reference_arm}); remove [model.treatment]")
        levels = dict(spec.levels)
        levels["arm"] = self.arm_levels
        return spec.replace(name=analysis.name, levels=levels)

    # --- rows ---------------------------------------------------------------------------------
    def base_row(self, analysis: Analysis) -> dict:
        """Columns every row of ``analysis`` carries: names, labels and the estimand's day."""
        e = self.estimand(analysis)
        return {
            "analysis": analysis.name, "estimand": analysis.estimand, "label": analysis.label,
            "estimand_label": (e.label or e.describe()) if e else "",
            "estimand_day": float(e.day) if e else math.nan,
        }

    def not_run_row(self, analysis: Analysis, engine: str, reason: str, *, outcome: str | None = None,
                    contrast: str | None = None) -> dict:
        """A row saying that ``engine`` did not run for ``analysis`` and why."""
        e = self.estimand(analysis)
        return {**self.base_row(analysis), "outcome": outcome or (e.outcome if e else None),
                "day": float(e.day) if e else math.nan, "contrast": contrast, "engine": engine,
                "status": reason, "converged": None, "warnings": reason}

    def record_timing(self, analysis: Analysis, seconds: float, **facts: Any) -> None:
        """Add a row to timings.csv (``outcome``, ``engine`` and compile facts as keyword arguments)."""
        self.timings.append({"analysis": analysis.name, "seconds": float(seconds), **facts})
