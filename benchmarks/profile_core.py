"""Where the native MMRM's time goes: a phase breakdown of ``fit_native`` (a script, not a test).

Wraps the functions ``fit_native`` calls with timers (CPU time of this process, so the
figures hold under a shared machine's load) and prints seconds per phase, summed over
``--repeat`` fits after one untimed warm-up fit.

Usage::

    .venv/bin/python benchmarks/profile_core.py --case sim --patients 50
    .venv/bin/python benchmarks/profile_core.py --case bcva --bcva PATH/TO/bcva_data.csv

Cases: ``sim`` (benchmarks/bench_core.py's simulated trial, ``--visits`` visits, unstructured,
REML, Kenward-Roger, LS means), ``bcva`` (openpharma/mmrm's ``bcva_data``:
``BCVA_CHG ~ BCVA_BL + RACE + ARMCD * AVISIT``, same options), ``lmm`` (random
intercept + slope, Satterthwaite, irregular times) and ``lmm-grid`` (the same LMM on the
``sim`` data, times on the 8-visit grid).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

#: (module, function) pairs timed; nested phases are reported inclusive.
PHASES = [
    ("longmod.engines.native", "check_spec"),
    ("longmod.engines.native", "prepare"),
    ("longmod.engines.native", "_positions"),
    ("longmod.engines.native", "build_long_data"),
    ("longmod.engines.native", "build_subject_data"),
    ("longmod.engines.native", "fit_covariance"),
    ("longmod.engines.core.optimize", "_num_hess"),
    ("longmod.engines.core.optimize", "observed_hessian"),
    ("longmod.engines.core.inference", "prepare"),
    ("longmod.engines.core.inference", "kenward_roger"),
    ("longmod.engines.core.inference", "kr_df"),
    ("longmod.engines.core.inference", "satterthwaite_df"),
    ("longmod.engines.native", "effect_grid"),
    ("longmod.engines.native", "build_effects"),
    ("longmod.engines.native", "type3_matrices"),
    ("longmod.engines.native", "provenance"),
]


def _wrap(totals, counts):
    for modname, fn in PHASES:
        mod = importlib.import_module(modname)
        f = getattr(mod, fn, None)
        if f is None:
            continue

        def timed(*a, __f=f, __k=f"{modname.rsplit('.', 1)[-1]}.{fn}", **kw):
            t0 = time.process_time()
            try:
                return __f(*a, **kw)
            finally:
                totals[__k] += time.process_time() - t0
                counts[__k] += 1

        setattr(mod, fn, timed)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", choices=["sim", "bcva", "lmm", "lmm-grid"], default="sim")
    ap.add_argument("--patients", type=int, default=50)
    ap.add_argument("--visits", type=int, default=8)
    ap.add_argument("--bcva", type=Path, default=ROOT / "benchmarks" / "data" / "bcva_data.csv")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    import bench_core as bc
    from longmod.engines import native

    if args.case == "sim":
        d, spec = bc.simulate(args.patients, visits=args.visits), bc.mmrm_spec(args.visits)
    elif args.case == "lmm-grid":
        d, spec = bc.simulate(args.patients), bc.lmm_spec()
    elif args.case == "lmm":
        d, spec = bc.simulate_irregular(args.patients), bc.irregular_spec()
    else:
        d, spec = bc.bcva(args.bcva)
    native.fit_native(spec, d)  # warm-up: imports, caches
    totals, counts = defaultdict(float), defaultdict(int)
    _wrap(totals, counts)
    c0, w0 = time.process_time(), time.perf_counter()
    for _ in range(args.repeat):
        fit = native.fit_native(spec, d)
    cpu, wall = (time.process_time() - c0) / args.repeat, (time.perf_counter() - w0) / args.repeat
    print(f"case {args.case}: {args.patients if args.case != 'bcva' else 'bcva'} patients; per fit: "
          f"CPU {cpu * 1e3:.1f} ms, wall {wall * 1e3:.1f} ms; -2LL {fit.fit_stats['neg2_log_likelihood']:.6f}; "
          f"{fit.convergence.optimizer}")
    print("| phase | calls per fit | CPU ms per fit | share |")
    print("|---|---:|---:|---:|")
    for k, v in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"| `{k}` | {counts[k] / args.repeat:g} | {1e3 * v / args.repeat:.1f} | {100 * v / args.repeat / cpu:.0f}% |")


if __name__ == "__main__":
    main()
