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
        benchmarks/bench_bayes_warm.py --backend nutpie; done

``--backend`` is a sampler backend (``nutpie``, ``nutpie-jax``, ``pymc``),
``--covariance`` another structure, ``--prior-draws`` the draws of the prior
groups (0 = none), ``--draws``/``--tune``/``--chains`` the sampler's size.
``--profile`` adds where the fit's time goes (cProfile, cumulative seconds of
the named steps: PyMC model building, PyTensor graph compilation, numba
loading from the disk cache, nutpie's C callbacks, sampling, log-likelihood
and prior draws) to the RESULT line as ``profile``.
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
ap.add_argument("--tune", type=int, default=1000)
ap.add_argument("--chains", type=int, default=4)
ap.add_argument("--profile", action="store_true")
args = ap.parse_args()

marks = {}
c0 = cpu()
from longmod.engines.bayes import fit_bayes_longitudinal, runtime  # noqa: E402

runtime.configure_pytensor()
import pymc  # noqa: E402,F401
import nutpie  # noqa: E402,F401

marks["import"] = (time.perf_counter() - T0, cpu() - c0)
t, c = time.perf_counter(), cpu()
from bundled_bayes_mmrm import bundled_bayes_mmrm  # noqa: E402

bundled = bundled_bayes_mmrm()
spec, data = bundled.spec, bundled.data
spec = spec.replace(covariance=args.covariance, mcid=bundled.mcid,
                    sampler={**dict(spec.sampler), "backend": args.backend, "draws": args.draws,
                             "tune": args.tune, "chains": args.chains})
marks["data"] = (time.perf_counter() - t, cpu() - c)
t, c = time.perf_counter(), cpu()
if args.profile:
    import cProfile
    import pstats

    prof = cProfile.Profile()
    prof.enable()
fit = fit_bayes_longitudinal(spec, data, estimand=bundled.estimand, prior_draws=args.prior_draws)
profile = {}
if args.profile:
    prof.disable()
    #: (label, function name, file fragment): the first match's cumulative time
    STEPS = [("build_pymc_model", "build_mmrm", "engines/bayes/mmrm.py"),
             ("ensure_compiled", "ensure_compiled", "compile_cache.py"),
             ("nutpie_compile_total", "compile_pymc_model", "nutpie"),
             ("nutpie_make_functions", "_make_functions", "nutpie"),
             ("pytensor_function", "function", "pytensor/compile/function/__init__.py"),
             ("numba_dispatcher_compile", "_compile_for_args", "numba/core/dispatcher.py"),
             ("numba_cache_load", "load_overload", "numba/core/caching.py"),
             ("numba_cfunc_compile", "compile", "numba/core/ccallback.py"),
             ("nutpie_sample", "sample", "nutpie/sample.py"),
             ("loglik", "_mmrm_loglik_and_predictive", "engines/bayes/longitudinal.py"),
             ("prior_predictive", "_mmrm_prior_predictive", "engines/bayes/longitudinal.py"),
             ("summaries", "effect_rows", "engines/bayes/assemble.py"),
             ("prior_draws", "sample_prior", "engines/bayes/idata.py")]
    stats = pstats.Stats(prof).stats
    for label, fn, frag in STEPS:
        hits = [v[3] for (f, _, name), v in stats.items() if name == fn and frag in f]
        profile[label] = round(max(hits), 2) if hits else None
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
    "compile_source": fs["compile_source"], "callbacks": fs["callbacks"], "compiled_by_child": fs["compiled_by_child"],
    "graphs_compiled_here": fs["graphs_compiled_here"], "d7_mean": round(float(e.loc["D7", "estimate"]), 3),
    "d7_ess_bulk": round(float(e.loc["D7", "ess_bulk"])), "max_r_hat": round(float(fit.effects["r_hat"].max()), 4),
    "divergences": int(fit.effects["divergences"].max()), "warnings": list(fit.convergence.warnings),
    **({"profile": profile} if args.profile else {})}))
