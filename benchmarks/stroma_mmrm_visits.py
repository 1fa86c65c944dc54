"""Fit the STROMA-CoV-2 MMRM (unstructured, REML, Kenward-Roger) of one outcome over chosen days.

Shows which visit sets an unstructured covariance can be estimated on with the bundled
(synthetic) fixture, and how long a fit takes or how it fails::

    .venv/bin/python benchmarks/stroma_mmrm_visits.py pao2_fio2 1,2,3,4,5,6,7,14,21,28
    .venv/bin/python benchmarks/stroma_mmrm_visits.py driving_pressure 1,2,3,4,5,6,7,14

Prints the patients per visit, the wall time, the convergence record and the contrasts.
"""
import sys, time
from longmod.spec.plan import load_plan
from longmod.resources import models_dir, fixtures_dir
from longmod.data import load_trial
from longmod.spec.model import Treatment, load_model_spec
from longmod.estimands.longitudinal import long_analysis_data, visit_label
from longmod.engines.registry import fit_model
plan = load_plan(models_dir()/"stroma_cov2"/"plan.toml")
trial = load_trial(fixtures_dir()/"stroma_cov2")
spec = load_model_spec(models_dir()/"stroma_cov2"/"mmrm_us.toml")
outcome = sys.argv[1]; days = [int(x) for x in sys.argv[2].split(",")]
data = long_analysis_data(trial, outcome, days=days)
print(outcome, "patients", data.patient_id.nunique(), "rows", len(data), data.groupby("day").size().to_dict())
levels = dict(spec.levels); levels["visit"] = [visit_label(d) for d in sorted(data.day.unique())]
levels["arm"] = [trial.meta.reference_arm, *trial.meta.active_arms]
(treatment,) = Treatment.for_trial(trial.meta.arms, trial.meta.reference_arm)  # from trial.toml
s = spec.replace(levels=levels, treatment=treatment)
t = time.time()
fit = fit_model(s, data, engine="native")
print("time", round(time.time()-t, 2), fit.convergence)
print(fit.effects[["visit","estimate","std_error","df"]].to_string())
