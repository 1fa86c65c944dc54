"""Run a trial's analysis plan end to end: ``reanalyse(trial_or_folder, plan=...)``."""

from __future__ import annotations

import platform
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

import longmod
from longmod.errors import UnknownNameError
from longmod.data import TrialData, load_trial
from longmod.pipeline.context import TIMING_COLUMNS, RunContext
from longmod.pipeline.registry import KINDS
from longmod.pipeline.result import TIMINGS_COLUMNS, Reanalysis
from longmod.pipeline.single import descriptive_rows
from longmod.results.schema import concat_effects, effects_frame
from longmod.spec.plan import AnalysisPlan, PlanError, load_plan

#: Pseudo-analysis name of the biomarker section (accepted by ``only=`` and ``--only``).
BIOMARKERS = "biomarkers"
#: File name of a plan beside a trial's data.
PLAN_FILE = "plan.toml"


def bundled_trial(name: str) -> tuple[Path, Path | None]:
    """(fixture folder, bundled plan or None) of a bundled trial; KeyError lists the bundled trials.

    Examples
    --------
    >>> folder, plan = bundled_trial("stroma-cov2")
    >>> folder.name, plan.name
    ('stroma_cov2', 'plan.toml')
    >>> bundled_trial("no-such-trial")
    Traceback (most recent call last):
    ...
    longmod...: 'no-such-trial' is neither a trial folder (a folder with trial.toml) nor a bundled trial; bundled trials: ...
    """
    from longmod.resources import fixtures_dir, models_dir, trial_names

    key = name.replace("-", "_")
    folder = fixtures_dir() / key
    plan = models_dir() / key / PLAN_FILE
    if not (folder / "trial.toml").is_file():
        if plan.is_file():  # a bundled plan of published summaries (no patient data), e.g. a meta-analysis
            return models_dir() / key, plan
        raise UnknownNameError(f"{name!r} is neither a trial folder (a folder with trial.toml) nor a bundled trial; "
                       f"bundled trials: {', '.join(trial_names())}")
    return folder, plan if plan.is_file() else None


def resolve_trial(trial: str | Path | TrialData) -> tuple[TrialData, Path | None]:
    """The trial's data and the plan that goes with it (None: no plan beside it).

    ``trial`` is a :class:`TrialData`, a trial folder (``trial.toml`` + data,
    optionally ``plan.toml``) or the name of a bundled trial.

    Examples
    --------
    >>> td, plan = resolve_trial("stroma-cov2")
    >>> td.meta.name, td.n_patients, plan.name
    ('stroma-cov2', 45, 'plan.toml')
    >>> resolve_trial(td)[1] is None  # a loaded TrialData brings no plan
    True
    """
    if isinstance(trial, TrialData):
        return trial, None
    path = Path(trial)
    if path.is_dir():
        plan = path / PLAN_FILE
        if not (path / "trial.toml").is_file() and plan.is_file():
            return _summary_trial(plan), plan
        return load_trial(path), plan if plan.is_file() else None
    if isinstance(trial, Path) or "/" in str(trial) or "\\" in str(trial):
        raise FileNotFoundError(f"{trial}: no such trial folder (a folder with trial.toml, the data files and "
                                "optionally plan.toml)")
    folder, plan = bundled_trial(str(trial))
    if not (folder / "trial.toml").is_file():
        return _summary_trial(plan), plan
    return load_trial(folder), plan


def _check_arm_sizes(td: TrialData) -> None:
    """TrialDataError before any fitting when an arm has fewer than two patients (plans of published summaries:
    no patients, nothing to check)."""
    from longmod.data.validate import TrialDataError, arm_size_problems
    from longmod.pipeline.meta_analysis import SUMMARY_DATA

    if td.provenance.get("data_label") == SUMMARY_DATA:
        return

    src = td.provenance.get("source", "patients")
    where = (str(Path(src) / dict(td.meta.files).get("patients", "patients.csv")) if Path(str(src)).is_dir()
             else "patients DataFrame")
    problems = arm_size_problems(td.patients, td.meta, where=where)
    if problems:
        raise TrialDataError(problems)


def _summary_trial(plan_path: Path) -> TrialData:
    """The placeholder trial of a plan of published summaries; a plan of patient data needs its trial.toml."""
    from longmod.pipeline.meta_analysis import SUMMARY_DATA, summary_trial

    p = load_plan(plan_path)
    if p.data != SUMMARY_DATA:
        raise FileNotFoundError(f"{plan_path.parent}: no trial.toml beside {plan_path.name}; a plan without patient "
                                f"data declares [plan] data = \"{SUMMARY_DATA}\"")
    return summary_trial(p)


def _resolve_plan(plan, default: Path | None, td: TrialData) -> AnalysisPlan:
    if isinstance(plan, AnalysisPlan):
        return plan
    if plan is not None:
        return load_plan(plan)
    if default is not None:
        return load_plan(default)
    from longmod.pipeline.init import default_plan

    return default_plan(td.meta)


def data_label(td: TrialData) -> str:
    """``synthetic``, ``user data`` or ``published summary`` (a plan without patient data).

    Examples
    --------
    >>> td, _ = resolve_trial("stroma-cov2")
    >>> data_label(td)
    'synthetic'
    >>> data_label(resolve_trial("msc-meta")[0])
    'published summary'
    """
    if td.provenance.get("data_label") == "published summaries":
        return "published summary"
    return "synthetic" if td.meta.synthetic else "user data"


def check_run(ctx: RunContext) -> None:
    """Every problem of the plan against the trial, found before anything is fitted (PlanError).

    Examples
    --------
    >>> from dataclasses import replace
    >>> from longmod.spec.plan import load_plan
    >>> td, plan = resolve_trial("stroma-cov2")
    >>> p = load_plan(plan).select(["primary_ancova"])
    >>> check_run(RunContext(td, p))  # nothing wrong: returns None
    >>> e = p.estimands["primary"]
    >>> check_run(RunContext(td, replace(p, estimands={"primary": replace(e, day=9)})))
    Traceback (most recent call last):
    ...
    longmod...PlanError: ...estimand 'primary': day 9 is not a scheduled day after the baseline...
    """
    meta = ctx.trial.meta
    measured = set(ctx.trial.measurements["variable"])
    post = [d for d in meta.schedule if d > meta.baseline_day]
    problems = []
    used = {a.estimand for a in ctx.plan.analyses if a.estimand}
    for name, e in ctx.plan.estimands.items():
        if name not in used:  # an estimand no analysis of this run targets (e.g. left out by only=)
            continue
        if e.outcome not in measured:
            problems.append(f"estimand {name!r}: outcome {e.outcome!r} is not measured in trial {meta.name!r}; "
                            f"measured: {', '.join(sorted(measured))}")
        if e.day not in post:
            problems.append(f"estimand {name!r}: day {e.day} is not a scheduled day after the baseline; valid: {post}")
        if e.baseline_day is not None and e.baseline_day not in meta.schedule:
            problems.append(f"estimand {name!r}: baseline_day {e.baseline_day} is not in the schedule {list(meta.schedule)}")
        if e.population == "per_protocol" and meta.doses_planned is None:
            problems.append(f"estimand {name!r}: the per-protocol population needs [trial] doses_planned and a "
                            "doses_received column")
    if ctx.plan.published:
        from longmod.published import available_trials

        if ctx.plan.published not in available_trials():
            problems.append(f"[plan] published = {ctx.plan.published!r} is not in longmod's registry of published "
                            f"results; available: {', '.join(available_trials())}")
    for a in ctx.plan.analyses:
        problems += KINDS[a.kind].problems(ctx, a)
    if problems:
        raise PlanError(str(ctx.plan.path or "(default plan)"), problems)


def _published_rows(plan: AnalysisPlan) -> pd.DataFrame:
    from longmod.published import published_effects

    reproduced = {a.name for a in plan.analyses} | {str(a.options["published"]) for a in plan.analyses
                                                     if a.options.get("published")}
    pub = published_effects(plan.published, include=reproduced) if plan.published else effects_frame([])
    if len(pub):
        labels = {a.options.get("published"): a for a in plan.analyses if a.options.get("published")
                  and a.kind != "prior_grid"}
        pub["label"] = [f"Published: {labels[x].label}" if x in labels else f"Published: {x}" for x in pub["analysis"]]
        pub["estimand_label"] = [plan.estimands[e].label if e in plan.estimands else e for e in pub["estimand"]]
        pub["estimand_day"] = [float(plan.estimands[e].day) if e in plan.estimands else d
                               for e, d in zip(pub["estimand"], pub["day"])]
    return pub


def _descriptives(ctx: RunContext, ours: pd.DataFrame) -> pd.DataFrame:
    from longmod.published import published_descriptives

    adata = ctx.used_analysis_data
    base = ctx.trial.meta.baseline_day
    desc = pd.concat([descriptive_rows(d, base) for d in adata.values()], ignore_index=True) if adata else pd.DataFrame()
    sr = ours[ours["engine"] == "wilcoxon-signed-rank"] if len(ours) else ours
    if len(sr):  # within-arm signed-rank P values are published alongside the means
        pv = pd.DataFrame({"estimand": sr["estimand"], "variable": "value", "arm": sr["contrast"].str.split(":").str[0],
                           "day": sr["day"], "statistic": "p_value", "reproduced": sr["p_value"], "n": sr["n_patients"]})
        desc = pd.concat([desc, pv], ignore_index=True)
    if ctx.plan.published and len(desc):
        pubd = published_descriptives(ctx.plan.published).drop(columns="id")
        desc = desc.merge(pubd, on=["estimand", "variable", "arm", "day", "statistic"], how="left")
        desc["difference"] = desc["reproduced"] - desc["published"]
    return desc


def reanalyse(
    trial: str | Path | TrialData = "stroma-cov2",
    *,
    plan: str | Path | AnalysisPlan | None = None,
    only: list[str] | None = None,
    progress: Callable[[str], None] | None = None,
    biomarkers: bool | None = None,
    biomarker_options: Mapping[str, Any] | None = None,
    sampler: Mapping[str, Any] | None = None,
    allow_large: bool = False,
) -> Reanalysis:
    """Run a trial's analysis plan and set the results beside the published ones.

    Parameters
    ----------
    trial : str, path or TrialData
        A trial folder (``trial.toml``, the patients and measurements files
        and optionally ``plan.toml``), the name of a bundled trial (e.g.
        ``"stroma-cov2"``: its SYNTHETIC fixture and bundled plan) or a
        loaded :class:`TrialData`.
    plan : path or AnalysisPlan, optional
        The plan to run instead of the one beside the trial. Without either,
        the default plan of :func:`longmod.pipeline.init.default_plan` (what
        ``longmod plan init`` writes) is run.
    only : list of str, optional
        Run only these analyses (names from the plan); the pseudo-name
        ``"biomarkers"`` selects the biomarker section.
    progress : callable, optional
        Called with a short message before each analysis (and each step of
        the biomarker section).
    biomarkers : bool, optional
        Run the biomarker section (Wilcoxon + BH per day, censored mixed
        models, the pooled Bayesian model). Default (None): when the trial has
        biomarkers (variables with an LLOQ) and ``only`` is not given or names
        ``"biomarkers"``. True on a trial without biomarkers raises ValueError.
    biomarker_options : mapping, optional
        Keyword arguments of ``biomarker_section`` (``markers``, ``pooled``,
        ``prior``, ``sampler``).
    sampler : mapping, optional
        Overrides of the sampler settings of every Bayesian analysis and of
        the biomarker section's pooled model: ``chains``, ``draws``, ``tune``,
        ``seed``.
    allow_large : bool
        Run every step whatever the trial's size. By default a step measured
        not to scale (:data:`longmod.pipeline.scale.STEP_COSTS`) stops the run
        before anything is fitted when the trial is larger than it allows.

    Returns
    -------
    Reanalysis

    Raises
    ------
    PlanError
        Every problem of the plan against the trial (unknown outcomes,
        covariates or days, missing spec files, an MCID that a prior grid
        needs, ...), raised before anything is fitted.
    ScaleError
        A step that would not scale to the trial's size (without
        ``allow_large``), raised before anything is fitted.

    Examples
    --------
    >>> res = reanalyse("stroma-cov2", only=["primary_ancova"])
    >>> res.data_label
    'synthetic'
    >>> sorted(res.effects["engine"].unique())
    ['ancova-ols', 'published']
    >>> res.biomarkers is None  # not requested by only=
    True
    """
    td, default_plan_path = resolve_trial(trial)
    _check_arm_sizes(td)
    p = _resolve_plan(plan, default_plan_path, td)
    if only:
        unknown = sorted(set(only) - set(p.analysis_names()) - {BIOMARKERS})
        if unknown:
            raise UnknownNameError(f"unknown analysis name(s) {', '.join(unknown)}; the plan declares: "
                           f"{', '.join(p.analysis_names())} (and {BIOMARKERS!r}, the biomarker section)")
    from longmod.biomarkers.section import has_biomarkers

    if biomarkers is None:
        run_biomarkers = (only is None or BIOMARKERS in only) and has_biomarkers(td)
    elif biomarkers and not has_biomarkers(td):
        raise ValueError("biomarkers=True but the trial has no biomarker (no measured variable has an LLOQ)")
    else:
        run_biomarkers = bool(biomarkers)
    selected = p.select(only)
    ctx = RunContext(td, selected, sampler=dict(sampler) if sampler else None)
    check_run(ctx)
    from longmod.pipeline.scale import check_scale, cost_key

    opts = dict(biomarker_options or {})
    check_scale([(a.name, cost_key(a.kind, a.options)) for a in selected.analyses], td.n_patients,
                len(td.measurements),
                biomarkers=run_biomarkers and (len(td.meta.active_arms) == 1 or "active" in opts),
                allow_large=allow_large)
    from longmod.engines.registry import engine_unavailable

    needed = dict.fromkeys(e for a in selected.analyses for e in KINDS[a.kind].engines_used(ctx, a))
    ctx.unavailable = {e: r for e in needed if (r := engine_unavailable(e))}

    frames: list[pd.DataFrame] = []
    for a in selected.analyses:
        k = KINDS[a.kind]
        if progress:
            progress(f"{a.name} ({a.kind})")
        t0 = time.perf_counter()
        used = k.engines_used(ctx, a)
        if used and all(e in ctx.unavailable for e in used):
            frames.append(effects_frame([ctx.not_run_row(a, e, ctx.unavailable[e]) for e in used]))
        else:
            frames.append(k.run(ctx, a))
        ctx.record_timing(a, time.perf_counter() - t0, outcome="", engine="")
    section = None
    if run_biomarkers and len(td.meta.active_arms) > 1 and "active" not in opts:
        reason = (f"the biomarker section compares one arm with the reference and the trial has "
                  f"{len(td.meta.active_arms)} active arms; give biomarker_options={{'active': ...}}")
        warnings.warn(f"biomarker section not run: {reason}", stacklevel=2)
        ctx.unavailable = {**ctx.unavailable, BIOMARKERS: f"not run: {reason}"}
        run_biomarkers = False
    if run_biomarkers:
        from longmod.biomarkers.section import biomarker_section

        t0 = time.perf_counter()
        if sampler:
            opts["sampler"] = {**dict(sampler), **dict(opts.get("sampler") or {})}
        section = biomarker_section(td, progress=progress, **opts)
        ctx.timings.append({"analysis": BIOMARKERS, "seconds": time.perf_counter() - t0})
    label = data_label(td)
    ours = concat_effects(frames)
    ours = ours.drop(columns=[c for c in TIMING_COLUMNS if c in ours])
    if "data_label" not in ours:
        ours["data_label"] = label
    ours["data_label"] = ours["data_label"].where(ours["data_label"] == "published summary", label)
    effects = concat_effects([_published_rows(selected), ours])
    adata = ctx.used_analysis_data
    imputations = (
        pd.concat([d.counts().assign(estimand=k) for k, d in adata.items()], ignore_index=True)[["estimand", "arm", "rule", "n"]]
        if adata else pd.DataFrame(columns=["estimand", "arm", "rule", "n"])
    )
    from longmod.published import published_citation

    prov = {
        "longmod_version": longmod.__version__,
        "python": platform.python_version(),
        "data": dict(td.provenance),
        "data_label": label,
        "plan": str(p.path) if p.path is not None else "default plan (longmod plan init)",
        "published": published_citation(p.published) if p.published else None,
        "engines_not_run": dict(ctx.unavailable),
    }
    timings = pd.DataFrame(ctx.timings).reindex(columns=list(TIMINGS_COLUMNS))
    return Reanalysis(effects, _descriptives(ctx, ours), imputations, td, p, prov, timings, adata, section,
                      ctx.posteriors)
