"""The plan's ``bayes_mmrm`` analysis on the bundled SYNTHETIC STROMA-CoV-2 fixture, as `longmod reanalyse` sets it up.

Shared by ``bench_bayes_warm.py`` and ``bench_bayes_kernels.py`` (run as scripts from the
repository root, so ``benchmarks/`` is on ``sys.path``).
"""

from __future__ import annotations

from typing import Any, NamedTuple


class BundledMMRM(NamedTuple):
    spec: Any  # ModelSpec: name, visit levels and treatment from the plan and trial.toml
    data: Any  # long analysis data of the analysis's estimand and days
    estimand: str
    mcid: float | None  # the outcome's MCID from trial.toml


def bundled_bayes_mmrm() -> BundledMMRM:
    from longmod.data import load_trial
    from longmod.estimands.longitudinal import long_analysis_data, visit_label
    from longmod.resources import fixtures_dir, models_dir
    from longmod.spec.model import Treatment, load_model_spec
    from longmod.spec.plan import load_plan

    plan = load_plan(models_dir() / "stroma_cov2" / "plan.toml")
    trial = load_trial(fixtures_dir() / "stroma_cov2")
    a = next(x for x in plan.analyses if x.name == "bayes_mmrm")
    spec = load_model_spec(plan.path.parent / a.options["spec"])
    days = [int(d) for d in a.options["days"]]
    outcome = plan.estimands[a.estimand].outcome
    data = long_analysis_data(trial, outcome, days=days)
    # the comparison and the MCID come from trial.toml, as in `longmod reanalyse`
    (treatment,) = Treatment.for_trial(trial.meta.arms, trial.meta.reference_arm)
    levels = {**dict(spec.levels), spec.visit: [visit_label(d) for d in days],
              treatment.variable: [treatment.reference, treatment.active]}
    spec = spec.replace(name=a.name, levels=levels, treatment=treatment)
    return BundledMMRM(spec, data, a.estimand, trial.meta.variables[outcome].mcid)
