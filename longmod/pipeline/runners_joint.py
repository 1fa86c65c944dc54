"""Runner of the ``joint_model`` analysis kind: the joint longitudinal-survival model on a trial.

The trajectory of one measured outcome (random intercept and slope per
patient) and a cause-specific hazard for each declared death and ICU-discharge
event (competing events) share the patients' random effects
(:func:`longmod.engines.joint.fit.fit_joint_model`). Everything comes from the
trial's metadata and the plan: the outcome and its direction of benefit and
MCID (``[variables.*]``), the events (``[events.*]``: ``kind = "death"`` is a
cause whose lower hazard is the benefit, ``kind = "discharge"`` one whose
higher hazard is), the follow-up (``[trial] followup_days``), the adjustment
(the stratification covariates). Every active arm is compared with the
reference arm in its own fit (the two arms' patients).
"""

from __future__ import annotations

import math
import time
import pandas as pd

#: Direction of benefit of a cause-specific hazard, by the event's declared kind.
BENEFIT_BY_KIND = {"death": "lower", "discharge": "higher"}


def _outcome(ctx, analysis) -> str:
    out = analysis.options.get("outcome") or ctx.trial.meta.primary_outcome
    if not out:
        raise ValueError(f"analysis {analysis.name!r}: no outcome (give `outcome` or the trial's primary_outcome)")
    return str(out)


def _landmark(ctx, analysis) -> float | None:
    day = analysis.options.get("landmark", ctx.trial.meta.primary_day)
    return None if day is None else float(day)


def _causes(ctx, analysis) -> dict[str, tuple[str, str]]:
    """Event name -> (patients-table column, benefit direction of its hazard)."""
    meta = ctx.trial.meta
    names = analysis.options.get("events")
    if names is None:
        names = [n for n, ev in meta.events.items() if ev.kind in BENEFIT_BY_KIND]
    out = {}
    for n in names:
        ev = meta.events.get(n)
        if ev is None or ev.kind not in BENEFIT_BY_KIND:
            raise ValueError(f"analysis {analysis.name!r}: event {n!r} is not a declared death or discharge event; "
                             f"valid: {', '.join(k for k, v in meta.events.items() if v.kind in BENEFIT_BY_KIND)}")
        out[n] = (ev.column, BENEFIT_BY_KIND[ev.kind])
    return out


def _covariates(ctx, analysis) -> list[str]:
    return list(analysis.options.get("covariates", ctx.trial.meta.stratification))


def _followup(ctx, analysis) -> float:
    meta = ctx.trial.meta
    f = analysis.options.get("followup", meta.followup_days)
    return float(f if f is not None else max(meta.schedule))


def check_joint_model(ctx, analysis) -> list[str]:
    """Problems of a ``joint_model`` analysis found before sampling.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> from longmod.data.meta import EventInfo, TrialMeta, VariableInfo
    >>> meta = TrialMeta(name="t", arms=("a", "b"), reference_arm="b", schedule=(0, 7),
    ...                  variables={"y": VariableInfo("y")}, events={"death": EventInfo("death", "dd", "death")})
    >>> ctx = SimpleNamespace(trial=SimpleNamespace(meta=meta))
    >>> an = SimpleNamespace(name="jm", options={"outcome": "x"})
    >>> check_joint_model(ctx, an)
    ["analysis 'jm': outcome 'x' is not a declared variable; declared: y"]
    """
    meta = ctx.trial.meta
    problems = []
    try:
        out = _outcome(ctx, analysis)
        if meta.variables and out not in meta.variables:
            problems.append(f"analysis {analysis.name!r}: outcome {out!r} is not a declared variable; declared: "
                            f"{', '.join(meta.variables)}")
    except ValueError as exc:
        problems.append(str(exc))
    try:
        if not _causes(ctx, analysis):
            problems.append(f"analysis {analysis.name!r}: the trial declares no death or discharge event")
    except ValueError as exc:
        problems.append(str(exc))
    for c in _covariates(ctx, analysis):
        info = meta.covariates.get(c)
        if info is None:
            problems.append(f"analysis {analysis.name!r}: covariate {c!r} is not declared in trial.toml; declared: "
                            f"{', '.join(meta.covariates) or 'none'}")
        elif info.type not in ("binary", "numeric"):
            problems.append(f"analysis {analysis.name!r}: covariate {c!r} is {info.type}; the joint model takes "
                            "binary or numeric covariates")
    bad = [a for a in analysis.options.get("association", ["value"]) if a not in ("value", "slope")]
    if bad:
        problems.append(f"analysis {analysis.name!r}: association {', '.join(map(repr, bad))}; valid: value, slope")
    return problems


def engines_joint(ctx, analysis) -> list[str]:
    """The joint model samples with PyMC (nutpie).

    Examples
    --------
    >>> from longmod.pipeline.registry import kind
    >>> from longmod.spec.plan import Analysis
    >>> engines_joint(None, Analysis("joint", "joint_model", None))
    ['pymc']
    >>> kind("joint_model").engines_used(None, Analysis("joint", "joint_model", None))  # what the registry asks
    ['pymc']
    """
    return ["pymc"]


def joint_inputs(ctx, analysis) -> list[dict]:
    """The arguments of :func:`~longmod.engines.joint.fit.fit_joint_model`, one dict per active arm.

    Built from the trial's tables and metadata only (see the module
    docstring); the trial's tables are copies, never modified. Each dict holds
    ``measurements`` (``patient_id``, ``day``, ``value`` of the outcome),
    ``patients`` (``patient_id``, ``arm``, covariates, ``event_time``,
    ``event``: the first event, or censoring at the follow-up) and the keyword
    arguments; ``contrast`` is the treatment's label.

    Examples
    --------
    >>> from longmod.data import load_trial
    >>> from longmod.pipeline.context import RunContext
    >>> from longmod.resources import fixtures_dir, models_dir
    >>> from longmod.spec.plan import Analysis, load_plan
    >>> trial = load_trial(fixtures_dir() / "stroma_cov2")
    >>> ctx = RunContext(trial, load_plan(models_dir() / "stroma_cov2" / "plan.toml"))
    >>> kw = joint_inputs(ctx, Analysis("jm", "joint_model", None, {}))[0]
    >>> meta = ctx.trial.meta
    >>> kw["contrast"] == f"{meta.active_arms[0]} - {meta.reference_arm}", kw["covariates"] == list(meta.stratification)
    (True, True)
    >>> sorted(kw["causes"].values()), kw["landmark"] == meta.primary_day, kw["followup"] == meta.followup_days
    (['higher', 'lower'], True, True)
    """
    from longmod.engines.joint.data import events_from_columns

    problems = check_joint_model(ctx, analysis)
    if problems:
        raise ValueError("; ".join(problems))
    meta = ctx.trial.meta
    outcome = _outcome(ctx, analysis)
    info = ctx.variable(outcome)
    causes = _causes(ctx, analysis)
    covs = _covariates(ctx, analysis)
    followup = _followup(ctx, analysis)
    censor = {meta.events[n].censor_column for n in causes} - {None}
    if len(censor) > 1:
        raise ValueError(f"analysis {analysis.name!r}: the events declare different censor columns "
                         f"({', '.join(sorted(censor))}); the joint model needs one last-known-event-free day")
    pats = ctx.trial.patients
    ev = events_from_columns(pats, id="patient_id", columns={n: c for n, (c, _) in causes.items()},
                             followup=followup, censor_column=censor.pop() if censor else None)
    pats = pats[["patient_id", "arm", *covs]].merge(ev[["patient_id", "event_time", "event"]], on="patient_id")
    meas = ctx.trial.measurements
    meas = meas.loc[meas["variable"] == outcome, ["patient_id", "day", "value"]]
    out = []
    for t in ctx.treatments:
        p2 = pats[pats["arm"].isin([t.active, t.reference])].reset_index(drop=True)
        m2 = meas[meas["patient_id"].isin(p2["patient_id"])].reset_index(drop=True)
        out.append({
            "contrast": t.label, "measurements": m2, "patients": p2, "id": "patient_id", "time": "day",
            "value": "value", "arm": "arm", "event_time": "event_time", "event": "event", "active": t.active,
            "reference": t.reference, "causes": {n: b for n, (_, b) in causes.items()},
            "better": "higher" if info.higher_is_better else "lower", "landmark": _landmark(ctx, analysis),
            "mcid": info.mcid, "association": tuple(analysis.options.get("association", ["value"])),
            "covariates": covs, "followup": followup, "after_event": "drop", "outcome": outcome,
            "horizon": followup})
    return out


def run_joint_model(ctx, analysis) -> pd.DataFrame:
    """Fit the joint model for every active arm; common-schema rows labelled with the joint model's estimand.

    Rows per active arm (see :func:`~longmod.engines.joint.fit.fit_joint_model`):
    the trajectories' difference at the landmark day and of slopes, each
    cause's log hazard ratio and its difference of cumulative incidence by the
    end of follow-up. ``estimand`` and ``estimand_label`` name the joint
    model's own estimand (the underlying trajectory with shared random
    effects, cause-specific hazards of the competing events): the kind takes no
    plan estimand, whose intercurrent-event rules it would not apply;
    ``estimand_day`` is the landmark day. Measurements after a patient's first
    event are left out and counted in ``warnings``. Each posterior goes to
    ``ctx.posteriors``; compile and sampling times to timings.csv.

    Examples
    --------
    >>> from longmod.pipeline import reanalyse
    >>> res = reanalyse("stroma-cov2", only=["joint_model"], sampler={"chains": 2, "draws": 300})  # doctest: +SKIP
    >>> res.effects[["parameter", "outcome", "estimate", "prob_benefit"]]  # doctest: +SKIP
    """
    from longmod.engines.joint.fit import fit_joint_model
    from longmod.pipeline.context import TIMING_COLUMNS
    from longmod.results.schema import effects_frame

    sampler = {**dict(analysis.options.get("sampler", {})), **dict(ctx.sampler or {})}
    frames = []
    for kw in joint_inputs(ctx, analysis):
        contrast = kw.pop("contrast")
        t0 = time.perf_counter()
        fit = fit_joint_model(**kw, sampler=sampler or None)
        d = fit.diagnostics.iloc[0]
        ctx.record_timing(analysis, time.perf_counter() - t0, outcome=kw["outcome"], engine="pymc",
                          contrast=contrast, compile_seconds=float(d.compile_seconds),
                          sample_seconds=float(d.sample_seconds), compile_source=d.compile_source)
        key = analysis.name + (f"_{kw['active']}" if len(ctx.treatments) > 1 else "")
        ctx.posteriors[key] = (fit.idata, {"analysis": analysis.name, "kind": "joint_model", "chains": int(d.chains),
                                           "draws": int(d.draws), "tune": int(d.tune), "seed": int(d.seed)})
        eff = fit.effects.drop(columns=[c for c in TIMING_COLUMNS if c in fit.effects])
        base = ctx.base_row(analysis)
        eff["analysis"], eff["label"] = base["analysis"], base["label"]
        eff["estimand_label"] = eff["estimand"]
        eff["estimand_day"] = kw["landmark"] if kw["landmark"] is not None else math.nan
        eff["contrast"] = contrast
        frames.append(effects_frame(eff.to_dict("records")))
    return pd.concat(frames, ignore_index=True)
