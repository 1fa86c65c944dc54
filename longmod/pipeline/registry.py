"""The one registry of analysis kinds a plan may declare: name -> options + runner.

Every ``[[analyses]]`` entry of a ``plan.toml`` names a ``kind``; :data:`KINDS`
says which options each kind accepts (type, default, meaning) and which
function runs it. The plan loader checks every analysis against it, the docs'
plan-format page is generated from it, and the pipeline calls
``KINDS[kind].run(ctx, analysis)``.

Adding a kind is one entry in :data:`KINDS`::

    AnalysisKind(
        name="my_kind",
        summary="What it estimates, in one sentence.",
        runner="longmod.pipeline.my_module:run_my_kind",   # run(ctx, analysis) -> DataFrame
        options=(Option("covariates", "list[str]", "baseline + stratification", "adjusted for"),),
        estimand="required",                 # "required" | "optional" | "none"
        engines="longmod.pipeline.my_module:engines_used",  # optional: (ctx, analysis) -> engine names
        check="longmod.pipeline.my_module:check_my_kind",   # optional: (ctx, analysis) -> list of problems
    )

The runner receives a :class:`~longmod.pipeline.context.RunContext` and the
:class:`~longmod.spec.plan.Analysis`, and returns common-schema rows
(:func:`longmod.results.schema.effects_frame`), one per outcome, day,
contrast and engine, with ``ctx.base_row(analysis)`` in each. Modules are
imported only when a kind runs, so this registry is cheap to import.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

#: Types an option may have (checked when the plan is loaded).
OPTION_TYPES: tuple[str, ...] = ("str", "number", "bool", "list[str]", "list[int]", "table", "str|table")


@dataclass(frozen=True)
class Option:
    """One option of an analysis kind: its TOML type, default (as shown in the docs) and meaning."""

    name: str
    type: str
    default: str
    doc: str
    required: bool = False
    example: str = ""

    def __post_init__(self) -> None:
        if self.type not in OPTION_TYPES:
            raise ValueError(f"option {self.name!r}: type {self.type!r} is not one of {', '.join(OPTION_TYPES)}")


def _resolve(ref: str) -> Callable:
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


@dataclass(frozen=True)
class AnalysisKind:
    """An analysis kind: the options it accepts and the function that runs it.

    Attributes
    ----------
    name : str
        The ``kind`` value in a plan.
    summary : str
        One sentence for the docs.
    runner : str
        ``"module:function"``; ``function(ctx, analysis) -> pandas.DataFrame``.
    options : tuple of Option
        Kind-specific options (besides :data:`COMMON_OPTIONS`).
    estimand : {"required", "optional", "none"}
        Whether the analysis must, may or may not name an estimand.
    engines : str, optional
        ``"module:function"``; ``function(ctx, analysis) -> list of engine
        names`` the analysis uses. An engine that cannot run here (see
        :func:`longmod.engines.registry.engine_unavailable`) is found at the
        start of the run; its rows say "not run: ..." and the rest runs.
    check : str, optional
        ``"module:function"``; ``function(ctx, analysis) -> list of str``:
        problems found before anything is fitted (unknown covariates, days off
        the schedule, a missing spec file, ...).
    sampled : bool
        The runner samples posteriors (sampler overrides apply).
    """

    name: str
    summary: str
    runner: str
    options: tuple[Option, ...] = ()
    estimand: str = "required"
    engines: str | None = None
    check: str | None = None
    sampled: bool = False

    def option(self, name: str) -> Option:
        """The :class:`Option` called ``name`` (common options included)."""
        for o in (*COMMON_OPTIONS, *self.options):
            if o.name == name:
                return o
        raise KeyError(name)

    @property
    def option_names(self) -> tuple[str, ...]:
        """Names of the kind-specific options."""
        return tuple(o.name for o in self.options)

    def run(self, ctx: Any, analysis: Any):
        """Run ``analysis`` (import the runner on first use)."""
        return _resolve(self.runner)(ctx, analysis)

    def engines_used(self, ctx: Any, analysis: Any) -> list[str]:
        """Engines ``analysis`` would use (empty when the kind declares none)."""
        return list(_resolve(self.engines)(ctx, analysis)) if self.engines else []

    def problems(self, ctx: Any, analysis: Any) -> list[str]:
        """Problems of ``analysis`` found before any fitting."""
        return list(_resolve(self.check)(ctx, analysis)) if self.check else []


#: Keys every analysis has.
COMMON_OPTIONS: tuple[Option, ...] = (
    Option("name", "str", "", "unique name of the analysis (the `analysis` column of effects.csv)", True,
           '"primary_ancova"'),
    Option("kind", "str", "", "one of the kinds below", True, '"ancova"'),
    Option("estimand", "str", "", "name of an `[estimands.*]` table: outcome, day, population and intercurrent-"
           "event strategies (required or not allowed depending on the kind)", False, '"primary"'),
    Option("label", "str", "the name", "shown in reports", False, '"ANCOVA of the change (primary)"'),
)

_COVARIATES = Option(
    "covariates", "list[str]", "`baseline` and the trial's stratification covariates",
    "adjustment covariates: `baseline` (the baseline value of the outcome) and any declared covariate "
    "(`[covariates.*]` of trial.toml; categorical ones enter as indicators)", False, '["baseline", "frail"]')
_PUBLISHED = Option("published", "str", "none", "id of the published result this analysis reproduces (shown "
                    "beside it in the report)", False, '"primary_ancova"')
_SPEC = Option("spec", "str", "", "a model spec file (TOML with a `[model]` table) next to the plan; give "
               "`spec` or `model`", False, '"mmrm_us.toml"')
_MODEL = Option("model", "table", "see the kind", "the model inline, as the keys of a spec's `[model]` table "
                "(`fixed`, `covariance`, `method`, `df`, `engine`, `priors`, `sampler`, ...); longmod fills "
                "`name`, `outcome = \"change\"`, `subject = \"patient_id\"`, `visit = \"visit\"`, `time = \"day\"` "
                "and the treatment (from trial.toml)", False, '{ covariance = "us", df = "kenward-roger" }')
_OUTCOMES = Option("outcomes", "list[str]", "the estimand's outcome", "measured variables to model, one fit "
                   "each", False, '["pf_ratio", "sofa"]')
_DAYS = Option("days", "list[int]", "every scheduled day after the baseline", "post-baseline visits in the model",
               False, "[1, 2, 3, 7]")


def _kinds(*kinds: AnalysisKind) -> Mapping[str, AnalysisKind]:
    return MappingProxyType({k.name: k for k in kinds})


#: The analysis kinds, by name. Add a kind here (one entry).
KINDS: Mapping[str, AnalysisKind] = _kinds(
    AnalysisKind(
        "ancova", "OLS ANCOVA of the change from baseline at the estimand's day, every active arm vs the "
        "reference (t-based 95% CI, df = n - p).",
        "longmod.pipeline.single:run_ancova", (_COVARIATES, _PUBLISHED),
        check="longmod.pipeline.single:check_covariates"),
    AnalysisKind(
        "rank_sum", "Wilcoxon rank-sum test of the change between each active arm and the reference, with the "
        "Hodges-Lehmann shift and its CI (exact without ties, as R's wilcox.test).",
        "longmod.pipeline.single:run_rank_sum", (_PUBLISHED,)),
    AnalysisKind(
        "signed_rank", "Within-arm Wilcoxon signed-rank test of baseline vs the estimand's day, one row per arm.",
        "longmod.pipeline.single:run_signed_rank"),
    AnalysisKind(
        "model", "Longitudinal model (MMRM or LMM) of the change from baseline at every visit, one row per visit, "
        "outcome, active arm and engine; values after death or discharge are missing (hypothetical strategy).",
        "longmod.pipeline.models:run_model",
        (_SPEC, _MODEL, _OUTCOMES, _DAYS,
         Option("engines", "list[str]", "the spec's engine", "fit the same model with several engines "
                "(ancova, native, statsmodels, lme4, pymc)", False, '["native", "lme4"]')),
        engines="longmod.pipeline.models:engines_of_model", check="longmod.pipeline.models:check_model_analysis"),
    AnalysisKind(
        "bayes_ancova", "Bayesian ANCOVA of the estimand's change (PyMC): posterior mean, 95% credible interval, "
        "P(benefit), P(effect > MCID) when the outcome declares an MCID, diagnostics as data.",
        "longmod.pipeline.models:run_bayes_ancova", (_SPEC, _MODEL),
        engines="longmod.pipeline.models:engines_bayes", check="longmod.pipeline.models:check_model_analysis",
        sampled=True),
    AnalysisKind(
        "bayes_model", "Bayesian longitudinal model (MMRM `us` or LMM `ri`/`ris`), one row per visit; missing "
        "visits are marginalised (MAR).",
        "longmod.pipeline.models:run_bayes_model", (_SPEC, _MODEL, _OUTCOMES, _DAYS),
        engines="longmod.pipeline.models:engines_bayes", check="longmod.pipeline.models:check_model_analysis",
        sampled=True),
    AnalysisKind(
        "prior_grid", "Closed-form Bayesian reanalysis of a PUBLISHED estimate and 95% CI over a grid of "
        "sceptical, optimistic and pessimistic priors scaled by the MCID (not the trial data).",
        "longmod.pipeline.prior_grid:run_prior_grid",
        (Option("published", "str", "", "id of the published result to reanalyse", True, '"primary_ancova"'),
         Option("mcid", "number", "the outcome's `mcid` in trial.toml", "the MCID that scales the priors",
                False, "20")),
        estimand="none", check="longmod.pipeline.prior_grid:check_prior_grid"),
    AnalysisKind(
        "joint_model", "Bayesian joint longitudinal-survival model (PyMC): the outcome's trajectory (random "
        "intercept and slope) and a cause-specific hazard for each death and ICU-discharge event sharing the "
        "patients' random effects; rows for the trajectories at the landmark day and their slopes, each cause's "
        "log hazard ratio and difference of cumulative incidence, with P(benefit).",
        "longmod.pipeline.runners_joint:run_joint_model",
        (Option("outcome", "str", "the trial's primary_outcome", "the measured variable whose trajectory is "
                "modelled", False, '"pf_ratio"'),
         Option("landmark", "number", "the trial's primary_day", "day of the trajectories' difference", False, "7"),
         Option("events", "list[str]", "every declared event of kind death or discharge", "the competing events "
                "(a death's lower hazard and a discharge's higher hazard are the benefit)", False,
                '["death", "icu_discharge"]'),
         Option("covariates", "list[str]", "the trial's stratification covariates", "binary or numeric patient "
                "covariates entering the trajectory's intercept and every log hazard", False, '["frail"]'),
         Option("association", "list[str]", '`["value"]`', "how the hazards depend on the random effects: the "
                "current underlying `value` and/or `slope`", False, '["value"]'),
         Option("followup", "number", "the trial's followup_days, else the last scheduled day", "administrative "
                "censoring day and horizon of the cumulative incidences", False, "28"),
         Option("sampler", "table", "4 chains x 1000 draws after 1000 tuning steps", "sampler settings (`chains`, "
                "`draws`, `tune`, `seed`, `target_accept`); the run's overrides win", False,
                "{ chains = 2, draws = 1000 }")),
        estimand="none", engines="longmod.pipeline.runners_joint:engines_joint",
        check="longmod.pipeline.runners_joint:check_joint_model", sampled=True),
)


def kind(name: str) -> AnalysisKind:
    """The registered kind ``name``; a KeyError lists the valid ones.

    Examples
    --------
    >>> kind("ancova").option_names
    ('covariates', 'published')
    """
    if name not in KINDS:
        raise KeyError(f"analysis kind {name!r} is not registered; kinds: {', '.join(KINDS)}")
    return KINDS[name]
