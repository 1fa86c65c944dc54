"""Benchmark of ``longmod simulate``: trials per second, and scaling with Dask workers.

Usage::

    python benchmarks/bench_simulate.py --trials 10000 --workers 1 2 --out benchmarks/results_simulate.json

Runs the bundled null scenario derived from STROMA-CoV-2 at 45 patients per arm (90 patients)
with the ANCOVA and the MMRM (the analyses named with --analyses), once per worker count on a
Dask LocalCluster, and records wall time, trials per second and the speed-up over one worker.
The operating characteristics of every run must be identical (same seed): the script checks it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import pandas as pd

from longmod.resources import models_dir
from longmod.simulate.run import run_simulation
from longmod.simulate.scenario import load_scenario


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=10000)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--analyses", nargs="+", default=["ancova", "mmrm"])
    ap.add_argument("--n-per-arm", type=int, default=45)
    ap.add_argument("--chunk-size", type=int, default=100)
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    sc = load_scenario(models_dir() / "scenarios" / "stroma_cov2_null.toml")
    sc = sc.replace(n_per_arm=(a.n_per_arm,), effect=(0.0,), analyses=tuple(x for x in sc.analyses if x.name in a.analyses))
    rows, first = [], None
    for w in a.workers:
        t0 = time.perf_counter()
        res = run_simulation(sc, trials=a.trials, seed=1, workers=w, chunk_size=a.chunk_size, truth_patients=20000)
        sec = time.perf_counter() - t0
        oc = res.operating_characteristics
        if first is None:
            first = oc
        else:
            pd.testing.assert_frame_equal(oc, first)  # same seed, same numbers whatever the workers
        rows.append({"workers": w, "trials": a.trials, "patients": 2 * a.n_per_arm, "analyses": a.analyses,
                     "seconds": round(sec, 1), "trials_per_second": round(a.trials / sec, 1),
                     "rejection_rate": {r.analysis: r.rejection_rate for r in oc.itertuples()},
                     "failed": {r.analysis: int(r.failed) for r in oc.itertuples()}})
        print(rows[-1], flush=True)
    for r in rows:
        r["speedup_vs_first"] = round(rows[0]["seconds"] / r["seconds"], 2)
    out = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_1min": os.getloadavg()[0]},
           "runs": rows}
    if a.out:
        a.out.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
