"""Benchmark of the Bayesian engine: ESS/s and wall time, longmod vs PyMC NUTS vs bambi.

Model (``--model ris``, default): hierarchical LMM with correlated random
intercept + slope on ``day``, ``pf ~ arm * visit + baseline``, visits
D3/D7/D14, on synthetic long data with 50 and 500 patients; 4 chains x 1000
draws (1000 tuning), 2 worker cores. ``--model ri``: random intercept only.

Samplers:

* ``nutpie``         longmod's default: random effects integrated out
                     (``parametrization="marginal"``), nutpie;
* ``nutpie-latent``  longmod with ``parametrization="latent"`` (random effects
                     sampled, non-centred), nutpie: the previous default;
* ``pymc-longmod``   longmod's fallback: PyMC NUTS, ``init="jitter+adapt_diag_grad"``,
                     marginal model;
* ``pymc-default``   PyMC NUTS with PyMC's default ``init="auto"`` on the latent
                     (non-centred) model, i.e. what a PyMC user writes: the
                     baseline of the ">= 5x PyMC default ESS/s" goal;
* ``bambi``          bambi 0.17 ``Model.fit()`` defaults (PyMC NUTS) with
                     longmod's priors (``tools/bambi_bridge.py``).
                     For ``ri`` it is the same model; for ``ris`` bambi cannot
                     correlate intercept and slope (no LKJ), so it fits
                     ``(1 + day | patient_id)`` with independent effects: a
                     different, simpler model, timed for reference only.

Each (sampler, size) runs twice in fresh processes: *cold* (empty PyTensor
compile cache, a new ``LONGMOD_CACHE``) then *warm* (same cache). Reported:
wall time of the whole fit (incl. compilation), compile time (nutpie only;
PyMC and bambi compile inside ``pm.sample``), sampling time, bulk ESS of the
D7 contrast and of the slowest random-effect SD, and ESS per second of
sampling.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_bayes.py --sizes 50 500 --out /tmp/bench_bayes.json
    .venv/bin/python benchmarks/bench_bayes.py --model ri --sizes 500 --samplers nutpie pymc-default bambi
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLERS = ("nutpie", "nutpie-latent", "pymc-longmod", "pymc-default", "bambi")


def long_data(n: int, seed: int = 1):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    days = (3.0, 7.0, 14.0)
    rows = []
    for i in range(n):
        arm = "uc_msc" if i % 2 else "placebo"
        base = rng.normal(120, 40)
        b0, b1 = rng.normal(0, 50), rng.normal(0, 3)
        last = 3 if rng.random() > 0.15 else int(rng.integers(1, 3))
        for k in range(last):
            eff = {0: 5.0, 1: 20.0, 2: 30.0}[k] if arm == "uc_msc" else 0.0
            y = 130 + 5 * days[k] + 0.5 * (base - 120) + eff + b0 + b1 * days[k] + rng.normal(0, 40)
            rows.append({"patient_id": f"p{i:04d}", "arm": arm, "visit": f"D{int(days[k])}", "day": days[k],
                         "baseline": base, "pf": y})
    return pd.DataFrame(rows)


def _spec(model: str, sampler: str):
    from longmod.spec.model import ModelSpec, Treatment

    backend = "nutpie" if sampler.startswith("nutpie") else "pymc"
    return ModelSpec(name="bench", outcome="pf", fixed="arm * visit + baseline", subject="patient_id",
                     visit="visit", time="day", covariance=model, levels={"visit": ["D3", "D7", "D14"]},
                     engine="pymc", treatment=Treatment("arm", "placebo", "uc_msc"),
                     sampler={"chains": 4, "draws": 1000, "tune": 1000, "seed": 1, "cores": 2, "backend": backend})


def bambi_worker(model: str, n: int) -> dict:
    import arviz as az
    import numpy as np

    from longmod.engines.bayes import runtime
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
    from bambi_bridge import bambi_fixed_effects, bambi_model
    from longmod.engines.bayes.design import prepare
    from longmod.engines.bayes.longitudinal import contrast_vectors

    rt = runtime.configure_pytensor()
    spec = _spec(model, "bambi")
    d = long_data(n)
    t0 = time.perf_counter()
    m, info = bambi_model(spec, d, uncorrelated_slopes=True)
    idata = m.fit(draws=1000, tune=1000, chains=4, cores=2, random_seed=1, progressbar=False)
    wall = time.perf_counter() - t0
    prep = prepare(spec, d, extra=[spec.subject, spec.visit, spec.time])
    L = contrast_vectors(spec, prep, ["D3", "D7", "D14"])
    beta = bambi_fixed_effects(idata, info["column_terms"])
    c7 = beta @ L[1]
    ess_d7 = float(az.ess(c7))
    sds = [v for v in idata.posterior.data_vars if v.endswith("_sigma") and "|" in v]
    ess_sd = min(float(az.ess(idata, var_names=[v])[v]) for v in sds)
    ndiv = int(idata.sample_stats["diverging"].values.sum())
    return {
        "sampler": "bambi", "model": model, "n_patients": n, "wall_s": wall, "compile_s": 0.0, "sample_s": wall,
        "ess_bulk_d7": ess_d7, "ess_bulk_min_re_sd": ess_sd, "ess_per_s_d7": ess_d7 / wall,
        "ess_per_s_re_sd": ess_sd / wall, "divergences": float(ndiv), "r_hat_d7": float(az.rhat(c7)),
        "blas": rt["blas"], "diagnostics_ok": bool(ndiv == 0 and ess_d7 >= 400),
        "same_model": model == "ri", "d7_mean": float(np.mean(c7)),
    }


def worker(sampler: str, n: int, model: str = "ris") -> dict:
    if sampler == "bambi":
        return bambi_worker(model, n)
    import arviz as az

    from longmod.engines.bayes import runtime
    from longmod.engines.bayes.longitudinal import fit_bayes_longitudinal

    if sampler == "pymc-default":
        runtime.PYMC_INIT = "auto"  # PyMC's own default initialisation, for comparison only
    param = "latent" if sampler in ("nutpie-latent", "pymc-default") else "marginal"
    spec = _spec(model, sampler)
    d = long_data(n)
    t0 = time.perf_counter()
    res = fit_bayes_longitudinal(spec, d, parametrization=param)
    wall = time.perf_counter() - t0
    idata = res.extras["inference_data"]
    d7 = res.effects.set_index("visit").loc["D7"]
    ess_sd = float(az.ess(idata, var_names=["re_sd"])["re_sd"].min())
    sample_s = res.fit_stats["sample_seconds"]
    return {
        "sampler": sampler, "model": model, "parametrization": param, "n_patients": n, "wall_s": wall,
        "compile_s": res.fit_stats["compile_seconds"],
        "sample_s": sample_s, "ess_bulk_d7": float(d7["ess_bulk"]), "ess_bulk_min_re_sd": ess_sd,
        "ess_per_s_d7": float(d7["ess_bulk"]) / sample_s, "ess_per_s_re_sd": ess_sd / sample_s,
        "divergences": float(d7["divergences"]), "r_hat_d7": float(d7["r_hat"]),
        "blas": res.provenance.get("pytensor_blas", ""), "diagnostics_ok": bool(res.convergence.converged),
        "same_model": True, "d7_mean": float(d7["estimate"]),
    }


def run(sampler: str, n: int, cache: str, timeout: float, model: str = "ris") -> dict:
    env = {**os.environ, "LONGMOD_CACHE": cache, "PYTHONPATH": str(ROOT)}
    env.pop("PYTENSOR_FLAGS", None)
    cmd = [sys.executable, __file__, "--worker", sampler, str(n), "--model", model]
    t0 = time.perf_counter()
    try:
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"sampler": sampler, "n_patients": n, "error": f"timeout after {timeout:.0f} s"}
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode or not lines:
        return {"sampler": sampler, "n_patients": n, "error": out.stderr[-500:]}
    r = json.loads(lines[-1])
    r["process_s"] = time.perf_counter() - t0
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[50, 500])
    ap.add_argument("--samplers", nargs="+", default=list(SAMPLERS), choices=SAMPLERS)
    ap.add_argument("--model", choices=("ris", "ri"), default="ris")
    ap.add_argument("--phases", nargs="+", default=["cold", "warm"], choices=("cold", "warm"),
                    help="cold = fresh compile cache; warm = second run on the same cache (a cold run "
                         "always precedes it; it is not recorded if 'cold' is not asked for)")
    ap.add_argument("--timeout", type=float, default=900.0)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--worker", nargs=2, metavar=("SAMPLER", "N"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        print(json.dumps(worker(a.worker[0], int(a.worker[1]), a.model)), flush=True)
        return
    results = []
    for n in a.sizes:
        for s in a.samplers:
            with tempfile.TemporaryDirectory(prefix="longmod-bench-") as cache:
                for phase in ("cold", "warm"):
                    load = os.getloadavg()
                    r = run(s, n, cache, a.timeout, a.model)
                    r["cache"] = phase
                    r["load_avg_before"] = [round(x, 2) for x in load]
                    if phase in a.phases:
                        results.append(r)
                    print(json.dumps(r), flush=True)
                    if a.phases == ["cold"]:
                        break
    if a.out:
        a.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nmodel {a.model}; load average before each run: `load_avg_before` in the JSON")
    print("\n| n | sampler | cache | wall s | compile s | sample s | ESS D7 | ESS/s D7 | ESS/s re_sd | div |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        if "error" in r:
            print(f"| {r['n_patients']} | {r['sampler']} | {r['cache']} | error: {r['error'][:60]} |")
            continue
        print(f"| {r['n_patients']} | {r['sampler']} | {r['cache']} | {r['wall_s']:.1f} | {r['compile_s']:.1f} | "
              f"{r['sample_s']:.1f} | {r['ess_bulk_d7']:.0f} | {r['ess_per_s_d7']:.0f} | {r['ess_per_s_re_sd']:.0f} | "
              f"{r['divergences']:.0f} |")


if __name__ == "__main__":
    main()
