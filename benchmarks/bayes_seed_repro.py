"""Fit the Bayesian ANCOVA (or MMRM) on the STROMA fixture; print draws hash + graph cache keys.

Same seed, same draws, cold vs warm compile cache (benchmarks/README.md)::

    for hs in 1 4; do LONGMOD_CACHE=/tmp/repro PYTHONHASHSEED=$hs \
        .venv/bin/python benchmarks/bayes_seed_repro.py mmrm; done

The first run compiles (cold), the second loads from the disk cache (warm); the
``draws_sha`` of the two ``RESULT`` lines must be equal. ``DAYS=1,3,5,7`` (default)
chooses the MMRM's visits.
"""
import hashlib, json, sys, time
t_start = time.perf_counter()
import numpy as np
from longmod.engines.bayes import runtime

which = sys.argv[1] if len(sys.argv) > 1 else "ancova"
runtime.configure_pytensor()
from longmod.spec.plan import load_plan
from longmod.resources import models_dir, fixtures_dir
from longmod.data import load_trial
from longmod.estimands.apply import apply_estimand
from longmod.spec.model import load_model_spec

plan = load_plan(models_dir() / "stroma_cov2" / "plan.toml")
trial = load_trial(fixtures_dir() / "stroma_cov2")
sampler = {"chains": 2, "draws": 100, "tune": 100, "seed": 12345, "cores": 1}
if which == "ancova":
    from longmod.engines.bayes import fit_bayes_ancova
    a = next(x for x in plan.analyses if x.name == "bayes_ancova")
    ad = apply_estimand(trial, plan.estimands[a.estimand])
    spec = load_model_spec(plan.path.parent / a.options["spec"]).replace(name=a.name, treatment=plan.treatment)
    fit = fit_bayes_ancova(spec, ad.complete, estimand=a.estimand, day=ad.estimand.day, sampler=sampler)
else:
    from longmod.engines.bayes.longitudinal import fit_bayes_longitudinal
    from longmod.estimands.longitudinal import long_analysis_data, visit_label
    a = next(x for x in plan.analyses if x.name == "bayes_mmrm")
    spec = load_model_spec(plan.path.parent / a.options["spec"])
    data = long_analysis_data(trial, plan.estimands[a.estimand].outcome, days=[int(d) for d in __import__("os").environ.get("DAYS", "1,3,5,7").split(",")])
    levels = dict(spec.levels)
    levels[spec.visit] = [visit_label(d) for d in sorted(data["day"].unique())]
    levels[plan.treatment.variable] = [plan.treatment.reference, plan.treatment.active]
    spec = spec.replace(name=a.name, levels=levels, treatment=plan.treatment)
    fit = fit_bayes_longitudinal(spec, data, estimand=a.estimand, sampler=sampler)
idata = fit.extras["inference_data"]
h = hashlib.sha256()
for name in sorted(idata.posterior.data_vars):
    h.update(name.encode()); h.update(np.ascontiguousarray(idata.posterior[name].values).tobytes())
from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS
keys = sorted(v for f, v in list(CACHED_SRC_FUNCTIONS.items()) if f.__name__ == "numba_funcified_fgraph")
attrs = {k: idata.attrs.get(k) for k in ("compile_source", "numba_compiled", "graphs_compiled", "compile_seconds", "sample_seconds")}
print("RESULT " + json.dumps({"draws_sha": h.hexdigest()[:16], "graph_keys": [k[:12] for k in keys], **attrs,
      "first": float(idata.posterior["beta"].values[0, 0, 1]), "total_s": time.perf_counter() - t_start}))
