"""End-to-end time of one Bayesian MMRM fit in a fresh process (the warm-start goal: < 10 s with a filled cache).

Fits the plan's ``bayes_mmrm`` model (``models/stroma_cov2/bayes_mmrm.toml``:
``arm * visit + baseline + age_gt70 + sofa_gt11``, unstructured covariance, the
hypothetical estimand's long data D1-D7, 4 chains x 1000 draws + 1000 tuning)
on the bundled SYNTHETIC STROMA-CoV-2 fixture, and prints one ``RESULT`` JSON
line with wall and CPU seconds per phase: ``import`` (longmod + the Bayesian
stack), ``data`` (trial, estimand data, design), ``compile`` (the sampler's
compile record), ``sample``, ``after`` (log-likelihood, prior draws,
InferenceData, summaries) and ``total`` (process start to end).

Run it twice on one new cache (the first run fills it)::

    for i in cold warm warm; do LONGMOD_CACHE=/tmp/ws nice .venv/bin/python \
        benchmarks/bayes_warm_start.py --backend nutpie; done

``--backend`` is a sampler backend (``nutpie``, ``nutpie-jax``, ``pymc``),
``--covariance`` another structure, ``--prior-draws`` the draws of the prior
groups (0 = none).
"""
import time

T0 = time.perf_counter()
import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime + c.ru_utime + c.ru_stime


ap = argparse.ArgumentParser()
ap.add_argument("--backend", default="nutpie")
ap.add_argument("--covariance", default="us")
ap.add_argument("--prior-draws", type=int, default=500)
ap.add_argument("--draws", type=int, default=1000)
args = ap.parse_args()

marks = {}
c0 = cpu()
from longmod.engines.bayes import fit_bayes_longitudinal, runtime  # noqa: E402

runtime.configure_pytensor()
import pymc  # noqa: E402,F401
import nutpie  # noqa: E402,F401

marks["import"] = (time.perf_counter() - T0, cpu() - c0)
t, c = time.perf_counter(), cpu()
from longmod.data import load_trial  # noqa: E402
from longmod.estimands.longitudinal import long_analysis_data, visit_label  # noqa: E402
from longmod.resources import fixtures_dir, models_dir  # noqa: E402
from longmod.spec.model import load_model_spec  # noqa: E402
from longmod.spec.plan import load_plan  # noqa: E402

plan = load_plan(models_dir() / "stroma_cov2" / "plan.toml")
trial = load_trial(fixtures_dir() / "stroma_cov2")
a = next(x for x in plan.analyses if x.name == "bayes_mmrm")
spec = load_model_spec(plan.path.parent / a.options["spec"])
days = [int(d) for d in a.options["days"]]
data = long_analysis_data(trial, plan.estimands[a.estimand].outcome, days=days)
levels = dict(spec.levels)
levels[spec.visit] = [visit_label(d) for d in days]
levels[plan.treatment.variable] = [plan.treatment.reference, plan.treatment.active]
spec = spec.replace(name=a.name, levels=levels, treatment=plan.treatment, covariance=args.covariance,
                    sampler={**dict(spec.sampler), "backend": args.backend, "draws": args.draws})
marks["data"] = (time.perf_counter() - t, cpu() - c)
t, c = time.perf_counter(), cpu()
fit = fit_bayes_longitudinal(spec, data, estimand=a.estimand, prior_draws=args.prior_draws)
fit_wall, fit_cpu = time.perf_counter() - t, cpu() - c
fs = fit.fit_stats
marks["compile"] = (fs["compile_seconds"], None)
marks["sample"] = (fs["sample_seconds"], None)
marks["after"] = (fit_wall - fs["compile_seconds"] - fs["sample_seconds"], None)
marks["fit"] = (fit_wall, fit_cpu)
marks["total"] = (time.perf_counter() - T0, cpu())
e = fit.effects.set_index("visit")
print("RESULT " + json.dumps({
    "backend": args.backend, "covariance": args.covariance, "load": os.getloadavg()[0],
    **{f"{k}_wall": round(v[0], 2) for k, v in marks.items()},
    **{f"{k}_cpu": round(v[1], 2) for k, v in marks.items() if v[1] is not None},
    "compile_source": fs["compile_source"], "compiled_by_child": fs["compiled_by_child"],
    "graphs_compiled_here": fs["graphs_compiled_here"], "d7_mean": round(float(e.loc["D7", "estimate"]), 3),
    "d7_ess_bulk": round(float(e.loc["D7", "ess_bulk"])), "max_r_hat": round(float(fit.effects["r_hat"].max()), 4),
    "divergences": int(fit.effects["divergences"].max()), "warnings": list(fit.convergence.warnings)}))
