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
OPTION_TYPES: tuple[str, ...] = ("str", "number", "bool", "list[str]", "list[int]", "list[number]", "table",
                                 "str|table")


@dataclass(frozen=True)
class Option:
    """One option of an analysis kind: its TOML type, default (as shown in the docs) and meaning.

    Examples
    --------
    >>> o = Option("horizon", "number", "[trial] followup_days", "Last day of follow-up.")
    >>> o.name, o.required
    ('horizon', False)
    >>> Option("horizon", "day", "", "")
    Traceback (most recent call last):
    ...
    ValueError: option 'horizon': type 'day' is not one of ...
    """

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

    Examples
    --------
    >>> k = kind("rank_sum")
    >>> k.name, k.estimand, k.runner
    ('rank_sum', 'required', 'longmod.pipeline.single:run_rank_sum')
    >>> [o.name for o in k.options][:3]
    ['published']
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
    Option("note", "str", "a sentence built from the results", "why this analysis's result can differ from the "
           "published one (shown in the report's estimand table; for analyses without an estimand)", False,
           '"the paper\'s test is not named"'),
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


# --- estimands for death and ICU discharge (longmod.estimands engines, wired in runners_*.py) -------------
_NUMS = "list[number]"
_ESTIMAND_KINDS: tuple[AnalysisKind, ...] = (
    AnalysisKind(
        "tipping_point", "Tipping-point sweep: the primary ANCOVA (and a closed-form P(benefit)) at every point of "
        "a grid of the composite estimand's constants (value imputed at death x discharge multiplier, the additive "
        "reading, a delta on the active arm's imputed values); one row per grid point, the constants in their own "
        "columns, the protocol's point (`is_protocol`) equal to the primary analysis.",
        "longmod.pipeline.runners_tipping:run_tipping_point",
        (_COVARIATES,
         Option("death_values", _NUMS, "0, 15, ..., 150", "values imputed at death (the estimand's own value is "
                "added)", False, "[0, 25, 50, 75, 100, 125, 150]"),
         Option("discharge_multipliers", _NUMS, "0.8, 0.9, ..., 1.4", "factors of the discharge rule `last value x "
                "factor` (the estimand's own factor is added); [] leaves this reading out", False, "[0.8, 1.0, 1.2]"),
         Option("discharge_fractions", _NUMS, "-0.2, -0.1, ..., 0.4", "fractions of the additive reading `last value "
                "+ fraction x baseline`; [] leaves it out", False, "[0.0, 0.1, 0.2]"),
         Option("active_deltas", _NUMS, "[0]", "shifts added to the active arm's imputed values", False,
                "[-50, 0, 50, 100]"),
         Option("prob_benefit", "str", "normal", "`normal`: P(benefit) per grid point from a normal prior "
                "N(0, (prior_scale x MCID)^2) (flat without an MCID) and the ANCOVA's likelihood; `none`", False,
                '"none"'),
         Option("prior_scale", "number", "5", "prior SD on the effect in MCIDs (as the weakly informative Bayesian "
                "ANCOVA)", False, "2.5")),
        check="longmod.pipeline.runners_tipping:check_tipping_point"),
    AnalysisKind(
        "multiple_imputation", "Multiple imputation of the visits missing after death, ICU discharge or dropout "
        "under MAR or a reference-based assumption (J2R, CR, CIR), from an MMRM (unstructured) with approximate "
        "Bayesian bootstrap draws of its ML fit or posterior draws of a Bayesian MMRM; ANCOVA at the estimand's "
        "day per dataset, Rubin's rules with the Barnard-Rubin df. The estimand's death and discharge strategies must be `hypothetical`.",
        "longmod.pipeline.runners_estimands:run_multiple_imputation",
        (_COVARIATES,
         Option("method", "str|table", "mar", "`mar`, `j2r`, `cr`, `cir`, or one per event kind", False,
                '{ death = "j2r", discharge = "mar" }'),
         Option("imputations", "number", "20", "number of imputations (bootstrap draws)", False, "50"),
         Option("seed", "number", "20221202", "seed of the bootstrap and of the imputation draws", False, "1"),
         Option("draws", "str", "bootstrap", "source of the parameter draws: `bootstrap` (approximate Bayesian "
                "bootstrap of the ML fit) or `bayes` (posterior of a Bayesian MMRM, PyMC, thinned to `imputations`)",
                False, '"bayes"'),
         Option("sampler", "table", "4 chains x 1000", "PyMC sampler settings of the Bayesian MMRM (`draws = "
                "\"bayes\"` only)", False, "{ chains = 2, draws = 500 }"),
         Option("days", "list[int]", "the scheduled days after the baseline up to the estimand's day", "visits of "
                "the imputation model (the estimand's day among them)", False, "[1, 2, 3, 4, 5, 6, 7]")),
        check="longmod.pipeline.runners_estimands:check_multiple_imputation"),
    AnalysisKind(
        "while_alive", "While-alive summary: area under the outcome's trajectory from baseline to death or the "
        "horizon, per day at risk; ANCOVA of that mean between the arms.",
        "longmod.pipeline.runners_estimands:run_while_alive",
        (_COVARIATES,
         Option("outcome", "str", "the estimand's outcome, else the trial's primary outcome", "measured variable",
                False, '"pf_ratio"'),
         Option("horizon", "number", "the estimand's day, else the trial's primary day", "end of the window",
                False, "28"),
         Option("stop_at", "list[str]", "[]", "event kinds that also end the window (`discharge`: while alive in "
                "the ICU)", False, '["discharge"]')),
        estimand="optional", check="longmod.pipeline.runners_estimands:check_while_alive"),
    AnalysisKind(
        "worst_rank", "Worst-rank composite: death by the estimand's day ranked worst (earlier worse), survivors by "
        "their change (or value) under the estimand's rules; win ratio, Mann-Whitney odds and probabilistic index "
        "with CIs, Finkelstein-Schoenfeld P.",
        "longmod.pipeline.runners_estimands:run_worst_rank",
        (Option("rank_by", "str", "change", "`change` or `value` at the estimand's day", False, '"value"'),),
        check="longmod.pipeline.runners_estimands:check_worst_rank"),
)


_EVENT = Option("event", "str|table", "", "the event: a declared `[events.*]` name, or a threshold reached by a "
                "measured variable `{ variable = \"pf_ratio\", above = 200 }` (or `below`), or the end of a measured "
                "state `{ variable = \"driving_pressure\", stops = true }`", True, '"oxygen_stop"')
_COMPETING = Option("competing", "list[str]", "every death event other than the event", "declared events that end "
                    "follow-up as competing events", False, '["death"]')
_CENSOR = Option("censor", "list[str]", "discharge events for a measured event, else none", "declared events that "
                 "censor follow-up", False, '["icu_discharge"]')
_HORIZON = Option("horizon", "number", "`[trial] followup_days`", "end of follow-up (days): later events are censored",
                  False, "28")
_TTE_DAYS = Option("days", "list[int]", "the horizon", "days at which event-free % (or cumulative incidence) is given "
                   "and the tests are repeated with follow-up ended there", False, "[28, 60]")
_STRATA = Option("strata", "str", "none", "a declared covariate (matched sets or a stratification factor): stratified "
                 "log-rank and Cox, and the matched-set analyses", False, '"matched_set"')

#: Kinds of the time-to-event, ordinal, responder, group-comparison and meta-analysis analyses.
_TRIAL_KINDS: tuple[AnalysisKind, ...] = (
    AnalysisKind(
        "survival", "Time to an event: Kaplan-Meier median per arm, event-free % at given days, weighted log-rank "
        "tests and the Cox hazard ratio (stratified when asked), tests of the event status at a day (Fisher, McNemar "
        "on matched pairs, conditional logistic, exact conditional); competing events are censored (cause-specific).",
        "longmod.pipeline.survival:run_survival",
        (_EVENT, _COMPETING, _CENSOR, _HORIZON, _TTE_DAYS, _STRATA,
         Option("tests", "list[str]", '["logrank"]', "log-rank weightings: logrank, gehan, peto, tarone-ware", False,
                '["logrank", "gehan", "peto"]'),
         Option("status_tests", "list[str]", "none", "tests of \"event by day D\" at each of `days`: fisher, mcnemar "
                "(treated-control pairs of the matched sets), clogit (conditional logistic + exact conditional)",
                False, '["fisher", "mcnemar", "clogit"]'),
         Option("cox", "bool", "true", "fit the Cox model", False, "false"), _PUBLISHED),
        estimand="none", check="longmod.pipeline.survival:check_survival"),
    AnalysisKind(
        "competing_risks", "Cumulative incidence of the event with death as a competing event (Aalen-Johansen, "
        "Gray's variance) and its difference at given days, the cause-specific Cox hazard ratio and, under "
        "administrative censoring, the Fine-Gray subdistribution hazard ratio.",
        "longmod.pipeline.survival:run_competing_risks",
        (_EVENT, _COMPETING, _CENSOR, _HORIZON, _TTE_DAYS, _PUBLISHED),
        estimand="none", check="longmod.pipeline.survival:check_survival"),
    AnalysisKind(
        "bayes_matched", "Bayesian conditional logistic regression of \"event by day D\" by matched set: exact "
        "posterior of the odds ratio by quadrature under a declared normal prior, P(benefit).",
        "longmod.pipeline.survival:run_bayes_matched",
        (_EVENT, _COMPETING, _CENSOR, _HORIZON, _TTE_DAYS, _STRATA,
         Option("prior_sd", "number", "", "SD of the normal prior of the log odds ratio (mean 0)", True, "1.5"),
         _PUBLISHED),
        estimand="none", check="longmod.pipeline.survival:check_survival"),
    AnalysisKind(
        "compare_groups", "The value (or change) at the estimand's day: per-arm mean, SD, median and quartiles beside "
        "the between-arm tests a paper may have used (t, Welch, t on logs, Wilcoxon rank-sum by R's rule, exact or "
        "normal approximation), and with `strata` the tests that respect matched sets (signed-rank on pairs, sign test, "
        "van Elteren).", "longmod.pipeline.comparisons:run_compare_groups",
        (Option("variable", "str", '"change"', "`value` (at the day), `change` (from baseline) or `slope` (each "
                "patient's least-squares slope of the observed values from baseline to the day)", False, '"value"'),
         Option("summaries", "list[str]", '["mean", "median"]', "per-arm summaries: mean (with SD), median (with "
                "quartiles, R type 7)", False, '["median"]'),
         Option("tests", "list[str]", '["t", "rank_sum"]', "between-arm tests: t, welch, t_log, rank_sum (R's rule, "
                "Hodges-Lehmann shift), rank_sum_exact, rank_sum_asymptotic, rank_sum_asymptotic_nocorrect", False,
                '["t", "welch", "rank_sum"]'),
         _STRATA, _PUBLISHED),
        check="longmod.pipeline.comparisons:check_compare_groups"),
    AnalysisKind(
        "responder", "Patients improved by at least `threshold` in the outcome's better direction from baseline to the "
        "estimand's day: counts per arm, difference in proportions (Newcombe CI), Fisher's exact test, Pearson's "
        "chi-square with and without Yates' correction.", "longmod.pipeline.comparisons:run_responder",
        (Option("threshold", "number", "1", "smallest improvement that counts (outcome units; categories of an "
                "ordinal scale)", False, "1"), _PUBLISHED),
        check="longmod.pipeline.comparisons:check_responder"),
    AnalysisKind(
        "ordinal", "Proportional-odds (cumulative-logit) model of an ordinal scale at the estimand's day on the arm and "
        "covariates (R ordinal::clm): odds ratio of a better category, active vs reference.",
        "longmod.pipeline.ordinal:run_ordinal",
        (Option("covariates", "list[str]", '["baseline"]', "`baseline` (the category at baseline, as a number) and "
                "declared covariates", False, '["baseline"]'), _PUBLISHED),
        check="longmod.pipeline.ordinal:check_ordinal"),
    AnalysisKind(
        "ordinal_longitudinal", "Proportional-odds mixed model of an ordinal scale over several days (visit as a "
        "factor, random intercept per patient; R ordinal::clmm) and its Bayesian version (PyMC, P(OR > 1)).",
        "longmod.pipeline.ordinal:run_ordinal_longitudinal",
        (Option("days", "list[int]", "every scheduled day after the baseline", "days in the model", False,
                "[7, 14, 21, 28]"),
         Option("covariates", "list[str]", '["baseline"]', "`baseline` and declared covariates", False, '["baseline"]'),
         Option("engines", "list[str]", '["clmm"]', "clmm (frequentist, adaptive Gauss-Hermite) and/or pymc (Bayesian)",
                False, '["clmm", "pymc"]'),
         Option("nagq", "number", "10", "quadrature points of clmm (1 = Laplace)", False, "10"),
         Option("sampler", "table", "engine defaults", "PyMC sampler settings (chains, draws, tune, seed)", False,
                "{ chains = 4, draws = 1000, seed = 1 }"), _PUBLISHED),
        engines="longmod.pipeline.ordinal:engines_ordinal", check="longmod.pipeline.ordinal:check_ordinal",
        sampled=True),
    AnalysisKind(
        "free_days", "Days alive and free of a measured state (e.g. ventilation, organ failure) up to the horizon, "
        "death counted as the worst outcome: per-arm median [IQR] and the Wilcoxon rank-sum test with the "
        "Hodges-Lehmann shift.", "longmod.pipeline.free_days:run_free_days",
        (Option("state", "table", "", "the state: `{ variable = \"driving_pressure\", measured = true }` (measured "
                "only in it) or `{ variable = \"sofa\", above = 5 }` (or `below`)", True,
                '{ variable = "driving_pressure", measured = true }'),
         _HORIZON,
         Option("free_after", "list[str]", "the trial's discharge events", "events after which a patient is free",
                False, '["icu_discharge"]'),
         Option("death_value", "number", "-1", "value of a patient dead by the horizon (below every survivor)", False,
                "-1"), _PUBLISHED),
        estimand="none", check="longmod.pipeline.free_days:check_free_days"),
    AnalysisKind(
        "meta_analysis", "Random-effects meta-analysis of PUBLISHED summaries declared in a studies file (REML and "
        "DerSimonian-Laird as metafor, prediction interval, every sensitivity scenario) and its Bayesian versions under "
        "half-normal and Turner et al. (2015) heterogeneity priors: mean effect, tau, a new trial's effect, P(benefit).",
        "longmod.pipeline.meta_analysis:run_meta_analysis",
        (Option("studies", "str", "", "studies file beside the plan (see longmod.spec.studies)", True, '"studies.toml"'),
         Option("outcome", "str", "", "the `[outcomes.*]` of the studies file to pool", True, '"pf_change_d7"'),
         Option("contrast", "str", '"active - control"', "contrast label of the rows", False, '"MSC - control"'),
         Option("methods", "list[str]", '["REML", "DL"]', "tau^2 estimators", False, '["REML"]'),
         Option("test", "str", '"z"', "z (metafor default) or knha (Knapp-Hartung, t on k - 1 df)", False, '"knha"'),
         Option("sensitivity", "bool", "true", "also pool every scenario of the studies file's `vary` values", False,
                "false"),
         Option("half_normal", "number", "none", "Bayesian fit with tau ~ half-normal(scale), analysis units", False,
                "0.5"),
         Option("turner", "str", "none", "Bayesian fit with the Turner et al. (2015) Table IV prior of this outcome "
                "type (pharmacological interventions vs an inactive control)", False, '"all-cause mortality"'),
         Option("turner_sd", "number", "none", "outcome SD moving a Turner prior to a mean-difference scale", False,
                "86"),
         Option("mu_sd", "number", "none", "SD of the normal prior of the mean effect (needed with a prior)", False,
                "2.82"),
         Option("mcid", "number", "none", "minimal clinically important effect (> 0) for P(MCID)", False, "20"),
         Option("sampler", "table", "4 chains x 2000", "PyMC sampler settings", False, "{ chains = 2, seed = 1 }")),
        estimand="none", engines="longmod.pipeline.meta_analysis:engines_meta",
        check="longmod.pipeline.meta_analysis:check_meta_analysis", sampled=True),
)


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
    *_ESTIMAND_KINDS,
    *_TRIAL_KINDS,
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
