"""Meta-analysis of published summaries: a plan without patient data.

A plan whose ``[plan] data = "published summaries"`` analyses no patients:
each ``meta_analysis`` analysis reads a studies file beside the plan
(:mod:`longmod.spec.studies`: what each study contributes and how it is
converted to an effect and its standard error) and pools one of its outcomes:

* frequentist random effects, REML and DerSimonian-Laird (as R
  ``metafor::rma``): the pooled effect with its CI and P, tau, I^2 and the
  prediction interval for a new trial, one row per study with its weight;
  repeated for every sensitivity scenario of the studies file (each assumed
  value replaced by each declared alternative, one at a time);
* Bayesian random effects (PyMC) under each declared heterogeneity prior
  (half-normal on tau; Turner et al. 2015 log-normal on tau^2, moved to a
  mean-difference scale with a declared SD when the measure is a mean
  difference): the mean effect, tau and a new trial's effect, P(benefit),
  P(effect beyond the MCID) when declared.

Every row says ``data_label = "published summary"``.
:func:`summary_trial` is the placeholder :class:`~longmod.data.TrialData`
(no patients, no measurements) such a plan runs on.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from longmod.results.schema import effects_frame

#: Data label of every row computed from published summaries.
SUMMARY_LABEL = "published summary"
#: ``[plan] data`` value of a plan without patient data.
SUMMARY_DATA = "published summaries"


def summary_trial(plan):
    """The TrialData of a plan that analyses published summaries only (no patients, no measurements).

    Examples
    --------
    >>> from longmod.resources import models_dir
    >>> from longmod.spec.plan import load_plan
    >>> td = summary_trial(load_plan(models_dir() / "msc_meta" / "plan.toml"))
    >>> td.meta.name, td.n_patients, td.provenance["data_label"]
    ('msc-meta', 0, 'published summaries')
    """
    import hashlib

    from longmod.data.meta import TrialMeta
    from longmod.data.trial import TrialData
    from longmod.data.validate import MEASUREMENT_COLUMNS

    files = sorted({a.options["studies"] for a in plan.analyses if "studies" in a.options})
    sha = {f: hashlib.sha256((plan.folder / f).read_bytes()).hexdigest() for f in files if (plan.folder / f).is_file()}
    if plan.path is not None:
        sha = {plan.path.name: hashlib.sha256(plan.path.read_bytes()).hexdigest(), **sha}
    meta = TrialMeta(name=plan.trial or plan.folder.name, arms=("active", "control"), reference_arm="control",
                     schedule=(0,), title=plan.title or plan.trial or "", synthetic=False,
                     source="published summaries (see the studies file)")
    empty_p = pd.DataFrame({"patient_id": pd.Series(dtype=str), "arm": pd.Series(dtype=str)})
    empty_m = pd.DataFrame({c: pd.Series(dtype=float if c in ("day", "value", "lloq") else str)
                            for c in MEASUREMENT_COLUMNS})
    prov = {"source": str(plan.folder), "sha256": sha, "data_label": SUMMARY_DATA}
    return TrialData(meta, empty_p, empty_m, prov)


def _studies(ctx, analysis):
    from longmod.spec.studies import load_studies

    return load_studies(ctx.plan.folder / analysis.options["studies"])


def check_meta_analysis(ctx, analysis) -> list[str]:
    """The studies file must exist and declare the outcome; Bayesian priors need ``mu_sd`` (and ``turner_sd`` for a mean difference).

    Examples
    --------
    >>> from dataclasses import replace
    >>> from longmod.pipeline.context import RunContext
    >>> from longmod.pipeline.run import resolve_trial
    >>> from longmod.spec.plan import load_plan
    >>> td, plan = resolve_trial("msc-meta")
    >>> ctx = RunContext(td, load_plan(plan))
    >>> a = {x.name: x for x in ctx.plan.analyses}["meta_pf_change_d7"]
    >>> check_meta_analysis(ctx, a)
    []
    >>> check_meta_analysis(ctx, replace(a, options={**a.options, "outcome": "sofa_d7"}))
    ["analysis 'meta_pf_change_d7': outcome 'sofa_d7' is not in studies.toml; declared: pf_change_d7, death_d28"]
    """
    from longmod.spec.studies import StudiesError

    o = analysis.options
    where = f"analysis {analysis.name!r}"
    path = ctx.plan.folder / o["studies"]
    if not path.is_file():
        return [f"{where}: studies file {path} not found (paths are relative to the plan)"]
    try:
        spec = _studies(ctx, analysis)
    except StudiesError as exc:
        return [f"{where}: {p}" for p in exc.problems]
    if o["outcome"] not in spec.outcomes:
        return [f"{where}: outcome {o['outcome']!r} is not in {path.name}; declared: {', '.join(spec.outcomes)}"]
    problems = []
    bad = [m for m in o.get("methods", []) if m not in ("REML", "DL")]
    if bad:
        problems.append(f"{where}: methods {bad} unknown; valid: REML, DL")
    bayes = "half_normal" in o or "turner" in o
    if bayes and "mu_sd" not in o:
        problems.append(f"{where}: a Bayesian meta-analysis needs the prior SD of the mean effect: mu_sd = <number>")
    if "turner" in o and spec.outcome(o["outcome"]).measure == "mean_difference" and "turner_sd" not in o:
        problems.append(f"{where}: a Turner prior on a mean difference needs the outcome SD that moves it there: "
                        "turner_sd = <number>")
    return problems


def _labelled(rows: pd.DataFrame, table: pd.DataFrame, used: pd.DataFrame, base: dict, scenario: str) -> list[dict]:
    info = table.set_index("study")
    out = []
    for r in rows.to_dict("records"):
        extra = {}
        if r.get("statistic") == "study":
            s = info.loc[r["study"]]
            extra = {"label": f"{base['label']}: {s['label']}", "study_label": s["label"], "conversion": s["conversion"],
                     "assumptions": s["assumptions"], "summary_kind": s["summary"], "note": s["note"],
                     "study_status": "used"}
        else:
            extra = {"studies": ", ".join(used["study"]), "assumptions": "; ".join(
                f"{a}: {b}" for a, b in zip(used["study"], used["assumptions"]) if b)}
        out.append({**r, **base, **extra, "label": extra.get("label", base["label"]), "scenario": scenario,
                    "data_label": SUMMARY_LABEL})
    return out


def _priors(o: dict, measure: str):
    from longmod.engines.meta.priors import half_normal, turner2015, turner2015_mean_difference

    out = []
    if "half_normal" in o:
        out.append(half_normal(float(o["half_normal"]), source="declared in the plan"))
    if "turner" in o:
        out.append(turner2015_mean_difference(str(o["turner"]), float(o["turner_sd"])) if measure == "mean_difference"
                   else turner2015(str(o["turner"])))
    return out


def run_meta_analysis(ctx, analysis) -> pd.DataFrame:
    """Random-effects meta-analysis (REML, DL; every sensitivity scenario) and its Bayesian versions.

    Examples
    --------
    >>> from longmod.pipeline import reanalyse
    >>> r = reanalyse("msc-meta", only=["meta_pf_change_d7"], sampler={"chains": 2, "draws": 300}).effects  # doctest: +SKIP
    >>> sorted(set(r.loc[r["engine"] != "published", "engine"]))  # doctest: +SKIP
    ['longmod.meta', 'pymc']
    """
    from longmod.engines.meta.bayes import bayes_meta_rows
    from longmod.engines.meta.frequentist import meta_rows
    from longmod.spec.studies import scenarios, study_table

    o = dict(analysis.options)
    spec = _studies(ctx, analysis)
    out = spec.outcome(o["outcome"])
    contrast = str(o.get("contrast", "active - control"))
    day = float(out.day) if out.day is not None else math.nan
    base = {**ctx.base_row(analysis), "outcome": out.name, "day": day, "contrast": contrast, "status": "ok",
            "warnings": "", "measure": out.measure, "units": out.units, "outcome_label": out.label}
    rows: list[dict] = []
    base_table = study_table(spec, out.name)
    for _, s in base_table[base_table["status"] != "used"].iterrows():
        rows.append({**base, "statistic": "study", "study": s["study"], "study_label": s["label"],
                     "label": f"{base['label']}: {s['label']}", "study_status": s["status"], "note": s["note"],
                     "engine": "longmod.meta", "scenario": "base", "data_label": SUMMARY_LABEL})
    for scen, overrides in scenarios(out) if o.get("sensitivity", True) else [("base", {})]:
        table = study_table(spec, out.name, overrides)
        used = table[table["status"] == "used"]
        for method in o.get("methods", ["REML", "DL"]):
            if len(used) < 2:
                msg = f"not run: {len(used)} study with a usable summary; pooling needs at least 2"
                rows.append({**base, "engine": "longmod.meta", "method": method, "scenario": scen, "status": msg,
                             "warnings": msg, "statistic": "pooled", "data_label": SUMMARY_LABEL})
                continue
            r = meta_rows(used, analysis=analysis.name, outcome=out.name, contrast=contrast, day=day, method=method,
                          test=str(o.get("test", "z")), n_patients="n_patients")
            if scen != "base":
                r = r[r["statistic"] == "pooled"]
            rows += _labelled(r, table, used, base, scen)
    used = base_table[base_table["status"] == "used"]
    priors = _priors(o, out.measure)
    if priors and len(used) >= 2 and "pymc" in ctx.unavailable:
        rows += [{**ctx.not_run_row(analysis, "pymc", ctx.unavailable["pymc"], outcome=out.name, contrast=contrast),
                  "data_label": SUMMARY_LABEL}]
    elif priors and len(used) >= 2:
        sampler = {**dict(o.get("sampler", {})), **dict(ctx.sampler or {})}
        mcid = float(o["mcid"]) if "mcid" in o else None
        for prior in priors:
            b = bayes_meta_rows(used, analysis=analysis.name, outcome=out.name, contrast=contrast, day=day,
                                tau_prior=prior, mu_sd=float(o["mu_sd"]), higher_is_better=out.higher_is_better,
                                mcid=mcid, n_patients="n_patients", sampler=sampler or None)
            for r in b.to_dict("records"):
                r.update({**base, "scenario": "base", "data_label": SUMMARY_LABEL, "statistic": r["parameter"],
                          "prior": r["tau_prior"], "studies": ", ".join(used["study"]),
                          "prob_harm": (1 - r["prob_benefit"]) if pd.notna(r.get("prob_benefit")) else np.nan})
                rows.append(r)
    return effects_frame(rows)


def engines_meta(ctx, analysis) -> list[str]:
    """``pymc`` when a heterogeneity prior is declared.

    Examples
    --------
    >>> from dataclasses import replace
    >>> from longmod.pipeline.context import RunContext
    >>> from longmod.pipeline.run import resolve_trial
    >>> from longmod.spec.plan import load_plan
    >>> td, plan = resolve_trial("msc-meta")
    >>> ctx = RunContext(td, load_plan(plan))
    >>> a = {x.name: x for x in ctx.plan.analyses}["meta_pf_change_d7"]
    >>> engines_meta(ctx, a)
    ['longmod.meta', 'pymc']
    >>> engines_meta(ctx, replace(a, options={"studies": a.options["studies"], "outcome": a.options["outcome"]}))
    ['longmod.meta']
    """
    o = analysis.options
    return ["longmod.meta", *(["pymc"] if ("half_normal" in o or "turner" in o) else [])]
