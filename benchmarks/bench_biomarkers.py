"""Wall time of the full 48-marker biomarker section (issue 5 goal: < 2 min on 2 cores, warm cache).

Run from the repository root:

    .venv/bin/python benchmarks/bench_biomarkers.py [--repeat 1] [--no-warmup] [--fixture] [--prior horseshoe|normal]

Each run is a fresh Python process calling ``longmod.biomarkers.section.biomarker_section``
(test-by-test Wilcoxon + BH, 48 censored mixed models, the pooled PyMC model with the
default sampler: 2 chains x 2000 draws, 1000 tuning; population prior ``--prior``, default
the section's default, the regularised horseshoe). A first, untimed warm-up run fills
PyTensor's compile cache (cold compile is ~3x slower). Data: the seeded simulator's
48 markers (20 + 21 patients, days 0/2/4/7/14, 0-60% censored), or with ``--fixture``
the STROMA-CoV-2 fixture's markers when it has them. SYNTHETIC data either way.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from longmod.biomarkers.section import biomarker_section
if {fixture!r}:
    from longmod.data import load_trial
    from longmod.resources import fixtures_dir
    data = load_trial(fixtures_dir() / "stroma_cov2")
else:
    from longmod.biomarkers.simulate import simulate_biomarkers
    data = simulate_biomarkers(48, seed=20240607)
out = biomarker_section(data, prior={prior!r})
d = out["pooled_diagnostics"].iloc[0]
ru = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({{"wall": time.perf_counter() - t0, "cpu": ru.ru_utime + ru.ru_stime,
                  "steps": dict(zip(out["timings"].step, out["timings"].seconds.round(2))),
                  "markers": int(out["markers"].shape[0]), "divergences": int(d.divergences),
                  "max_r_hat": float(d.max_r_hat), "min_ess_bulk": float(d.min_ess_bulk),
                  "compile_seconds": round(float(d.compile_seconds), 2),
                  "sample_seconds": round(float(d.sample_seconds), 2), "backend": d.backend,
                  "prior": str(d.prior)}}))
"""


def run(fixture: bool, prior: str | None = None) -> dict:
    """One fresh-process run; returns the child's JSON report."""
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", CHILD.format(fixture=fixture, prior=prior)], check=True,
                         capture_output=True, text=True)
    rep = json.loads(res.stdout.strip().splitlines()[-1])
    rep["process_wall"] = time.perf_counter() - t0
    return rep


def main() -> None:
    """Command line entry point."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--no-warmup", action="store_true")
    ap.add_argument("--fixture", action="store_true", help="use fixtures/stroma_cov2 instead of simulated markers")
    ap.add_argument("--prior", choices=["horseshoe", "normal"], default=None,
                    help="population prior of the pooled model (default: the section's default)")
    a = ap.parse_args()
    print(f"load average before: {', '.join(f'{x:.1f}' for x in os.getloadavg())} ({os.cpu_count()} CPUs)")
    if not a.no_warmup:
        w = run(a.fixture, a.prior)
        print(f"warm-up run (fills compile cache): {w['process_wall']:.1f} s")
    for k in range(a.repeat):
        r = run(a.fixture, a.prior)
        print(f"run {k + 1}: process {r['process_wall']:.1f} s wall, {r['cpu']:.1f} s CPU | " + ", ".join(f"{s}: {v:.1f} s" for s, v in r["steps"].items()))
        print(f"        pooled model ({r['prior']}): {r['backend']}, compile {r['compile_seconds']:.1f} s, sampling "
              f"{r['sample_seconds']:.1f} s, divergences {r['divergences']}, max R-hat {r['max_r_hat']:.3f}, "
              f"min bulk ESS {r['min_ess_bulk']:.0f} ({r['markers']} markers)")


if __name__ == "__main__":
    main()
