"""Wall time of one joint-model fit of a 45-patient trial (the STROMA-CoV-2 fixture's PaO2/FiO2).

Run from the repository root:

    .venv/bin/python benchmarks/bench_joint.py [--repeat 2] [--no-warmup]

Each run is a fresh Python process that loads the SYNTHETIC fixture, derives each patient's
first event (death or ICU discharge, censored at day 28) and calls
``longmod.engines.joint.fit.fit_joint_model`` with its defaults (nutpie, 4 chains x 1000
draws after 1000 tuning steps, value association, 3-piece baselines). A first, untimed
warm-up run fills the compile cache (``--no-warmup`` skips it). Reported: process wall
and CPU time, the fit's wall time and its parts (compile or disk load, sampling, the
rest: summaries and the cumulative incidence), diagnostics.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

CHILD = r"""
import json, resource, time
t0 = time.perf_counter()
import pandas as pd
from longmod.engines.joint.data import events_from_columns
from longmod.engines.joint.fit import fit_joint_model
from longmod.resources import fixtures_dir

d = fixtures_dir() / "stroma_cov2"
pat = pd.read_csv(d / "patients.csv")
meas = pd.read_csv(d / "measurements.csv")
meas = meas[meas.variable == "pao2_fio2"]
ev = events_from_columns(pat, id="patient_id", columns={"death": "death_day", "discharge": "icu_discharge_day"},
                         followup=28)
pat = pat.merge(ev, on="patient_id")
t1 = time.perf_counter()
fit = fit_joint_model(meas, pat, id="patient_id", time="day", value="value", arm="arm", event_time="event_time",
                      event="event", active="uc_msc", reference="placebo",
                      causes={"death": "lower", "discharge": "higher"}, landmark=7, mcid=20, followup=28)
t2 = time.perf_counter()
d = fit.diagnostics.iloc[0]
ru = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"wall": time.perf_counter() - t0, "fit": t2 - t1, "cpu": ru.ru_utime + ru.ru_stime,
                  "compile": float(d.compile_seconds), "source": d.compile_source, "sample": float(d.sample_seconds),
                  "divergences": int(d.divergences), "max_r_hat": float(d.max_r_hat),
                  "min_ess_bulk": float(d.min_ess_bulk),
                  "effects": fit.effects[["parameter", "outcome", "estimate", "conf_low", "conf_high",
                                          "prob_benefit"]].round(4).to_dict("records")}))
"""


def run() -> dict:
    """One fresh-process run; returns the child's JSON report."""
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", CHILD], check=True, capture_output=True, text=True)
    rep = json.loads(res.stdout.strip().splitlines()[-1])
    rep["process_wall"] = time.perf_counter() - t0
    return rep


def main() -> None:
    """Command line entry point."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--no-warmup", action="store_true")
    a = ap.parse_args()
    print(f"load average before: {', '.join(f'{x:.1f}' for x in os.getloadavg())} ({os.cpu_count()} CPUs)")
    if not a.no_warmup:
        w = run()
        print(f"warm-up run (fills the compile cache): {w['process_wall']:.1f} s, model from {w['source']}")
    for k in range(a.repeat):
        r = run()
        print(f"run {k + 1}: process {r['process_wall']:.1f} s wall, {r['cpu']:.1f} s CPU; fit {r['fit']:.1f} s = "
              f"compile/load {r['compile']:.1f} s ({r['source']}) + sampling {r['sample']:.1f} s + rest "
              f"{r['fit'] - r['compile'] - r['sample']:.1f} s; divergences {r['divergences']}, max R-hat "
              f"{r['max_r_hat']:.3f}, min bulk ESS {r['min_ess_bulk']:.0f}")
    for e in r["effects"]:
        print(f"    {e['parameter']:32s} {e['outcome']:10s} {e['estimate']:9.4f} [{e['conf_low']:.4f}, "
              f"{e['conf_high']:.4f}]  P(benefit) {e['prob_benefit']:.3f}")


if __name__ == "__main__":
    main()
