"""Load (issue 14, item 9): the bundled trial and a copy 100 times its size, step by step.

Run from the repository root:

    .venv/bin/python benchmarks/bench_load.py [--factor 100] [--only STEP ...] [--timeout 600]
        [--sizes 1 100] [--out benchmarks/results_load.json] [--keep DIR]

The large trial is built in a temporary folder from the bundled STROMA-CoV-2 fixture (SYNTHETIC
pseudo-patient data): every patient is copied ``--factor`` times under new ids (``S01-c001``, ...),
with its arm, strata, covariates, events and measurements; continuous values (non-integer
measurements, weight) get a small seeded multiplicative jitter (SD 1%, rounded to the original
decimals, kept within the variable's declared range and above its LLOQ) so that copies differ. The
seed is fixed: the same files, byte for byte, on every run. At ``factor = 1`` the bundled fixture
itself is used.

Each step (``load``: reading and checking the trial only; every analysis of the bundled plan; the
biomarker section, pseudo-name ``biomarkers``) runs in its own fresh Python process calling
``longmod.pipeline.reanalyse(folder, plan=..., only=[step])`` (with ``allow_large=True``, so that the
pre-flight scale check does not stop it). The parent records the process's wall time and peak RSS
(``os.wait4``'s ``ru_maxrss`` of that one child), the child its own load and step seconds. A step
still running after ``--timeout`` seconds is killed (its process group) and recorded as
``timeout``. Bayesian steps use the specs' sampler settings and the compile cache in
``LONGMOD_CACHE``. The results (one row per size and step, and the 100x / 1x ratios) are written as
JSON to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "fixtures" / "stroma_cov2"
PLAN = ROOT / "models" / "stroma_cov2" / "plan.toml"
SEED = 20261203
JITTER_SD = 0.01

CHILD = r"""
import inspect, json, sys, time, traceback
t0 = time.perf_counter()
folder, plan, step = sys.argv[1], sys.argv[2], sys.argv[3]
from longmod.pipeline import reanalyse
from longmod.pipeline.run import resolve_trial
td, _ = resolve_trial(folder)
out = {"load_seconds": time.perf_counter() - t0, "patients": int(td.n_patients),
       "measurement_rows": int(len(td.measurements))}
if step != "load":
    kw = {"allow_large": True} if "allow_large" in inspect.signature(reanalyse).parameters else {}
    t1 = time.perf_counter()
    try:
        res = reanalyse(td, plan=plan, only=[step], **kw)
        out["step_seconds"] = time.perf_counter() - t1
        eff = res.effects[res.effects["engine"] != "published"]
        out["rows"] = int(len(eff))
        st = eff["status"].astype(str) if "status" in eff else None
        out["not_ok"] = int((st.str.startswith("not run") | st.str.startswith("failed")).sum()) if st is not None else 0
        tm = res.timings
        for c in ("compile_seconds", "sample_seconds"):
            if c in tm and tm[c].notna().any():
                out[c] = float(tm[c].fillna(0).sum())
        if res.biomarkers is not None and "timings" in res.biomarkers:
            out["biomarker_steps"] = {str(k): round(float(v), 2) for k, v in
                                      zip(res.biomarkers["timings"]["step"], res.biomarkers["timings"]["seconds"])}
    except Exception as exc:
        out["step_seconds"] = time.perf_counter() - t1
        out["error"] = f"{type(exc).__name__}: {exc}"[:400]
out["process_seconds"] = time.perf_counter() - t0
print("BENCH " + json.dumps(out))
"""


def _decimals(x: pd.Series) -> int:
    """The most decimals (up to 4) among a column's printed values."""
    s = x.dropna().map(lambda v: f"{v:.6f}".rstrip("0").split(".")[1] if "." in f"{v:.6f}".rstrip("0") else "")
    return min(4, int(s.str.len().max() or 0))


def build_trial(factor: int, dest: Path, seed: int = SEED) -> Path:
    """Write a trial folder ``factor`` times the bundled fixture into ``dest``; returns ``dest``."""
    import tomllib

    meta = tomllib.loads((FIXTURE / "trial.toml").read_text(encoding="utf-8"))
    variables = meta.get("variables", {})
    pat = pd.read_csv(FIXTURE / "patients.csv", dtype={"patient_id": str})
    mea = pd.read_csv(FIXTURE / "measurements.csv", dtype={"patient_id": str})
    rng = np.random.default_rng(seed)
    copies = [f"-c{k:03d}" for k in range(1, factor + 1)]

    p = pat.loc[pat.index.repeat(factor)].reset_index(drop=True)
    p["patient_id"] = p["patient_id"] + np.tile(copies, len(pat))
    w = p["weight_kg"]
    p["weight_kg"] = (w * (1 + JITTER_SD * rng.standard_normal(len(p)))).round(_decimals(pat["weight_kg"]))
    for c in p.columns:  # event days are whole numbers with empty cells: write them as in the fixture
        if p[c].dtype.kind == "f" and c != "weight_kg" and (p[c].dropna() == p[c].dropna().round()).all():
            p[c] = p[c].astype("Int64")

    order = np.argsort(mea["patient_id"].to_numpy(), kind="stable")
    m0 = mea.iloc[order].reset_index(drop=True)
    m = pd.concat([m0.assign(patient_id=m0["patient_id"] + c) for c in copies], ignore_index=True)
    noise = 1 + JITTER_SD * rng.standard_normal(len(m))
    for var, idx in m.groupby("variable", sort=True).groups.items():
        x = m.loc[idx, "value"]
        base = mea.loc[mea["variable"] == var, "value"].dropna()
        if len(base) == 0 or (base == base.round()).all():  # integer scores stay as they are
            continue
        spec = variables.get(var, {})
        y = (x * noise[idx]).round(_decimals(base))
        y = y.clip(lower=spec.get("min", -np.inf), upper=spec.get("max", np.inf))
        lloq = m.loc[idx, "lloq"]
        y = y.where(lloq.isna() | (y >= lloq), lloq)
        m.loc[idx, "value"] = y.where(x.notna())
    m = m.sort_values(["patient_id", "variable", "day"], kind="stable").reset_index(drop=True)

    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(FIXTURE / "trial.toml", dest / "trial.toml")
    p.to_csv(dest / "patients.csv", index=False, lineterminator="\n")
    m.to_csv(dest / "measurements.csv", index=False, lineterminator="\n", float_format="%.6g")
    return dest


def plan_steps() -> list[str]:
    """``load``, every analysis of the bundled plan, then ``biomarkers``."""
    from longmod.spec.plan import load_plan

    return ["load", *load_plan(PLAN).analysis_names(), "biomarkers"]


def run_step(folder: Path, step: str, timeout: float) -> dict:
    """One step in a fresh process: wall time, peak RSS (MiB), the child's report or ``timeout``."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(folder), str(PLAN), step], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    status, ru = None, None
    while True:
        pid, st, ru = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            status = os.waitstatus_to_exitcode(st)
            break
        if time.perf_counter() - t0 > timeout:
            os.killpg(proc.pid, signal.SIGKILL)
            _, st, ru = os.wait4(proc.pid, 0)
            status = "timeout"
            break
        time.sleep(0.2)
    wall = time.perf_counter() - t0
    proc.returncode = -1  # reaped above
    out = proc.stdout.read()
    row = {"step": step, "wall_seconds": round(wall, 2), "peak_rss_mib": round(ru.ru_maxrss / 1024, 1),
           "cpu_seconds": round(ru.ru_utime + ru.ru_stime, 2), "exit": status}
    for line in out.splitlines():
        if line.startswith("BENCH "):
            rep = json.loads(line[6:])
            row.update({k: (round(v, 2) if isinstance(v, float) else v) for k, v in rep.items()})
    if status == "timeout":
        row["timeout_seconds"] = timeout
        if "process_seconds" in row:  # it had finished and reported; killed while shutting down
            row["exit"], row["finished_at_timeout"] = 0, True
    return row


def main() -> None:
    """Command line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--factor", type=int, default=100, help="size of the large trial, in copies of each patient")
    ap.add_argument("--sizes", type=int, nargs="+", default=None,
                    help="factors to measure (default: 1 and --factor)")
    ap.add_argument("--only", nargs="+", help="steps to run (default: load, every analysis, biomarkers)")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per step before it is killed")
    ap.add_argument("--out", default="benchmarks/results_load.json")
    ap.add_argument("--keep", help="build the large trial in this folder and keep it (default: a temporary folder)")
    ap.add_argument("--table", action="store_true", help="print the Markdown table of --out's results and exit")
    args = ap.parse_args()
    if args.table:
        print(markdown_table(json.loads(Path(args.out).read_text())))
        return
    steps = args.only or plan_steps()
    sizes = args.sizes or sorted({1, args.factor})
    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="longmod-load-"))
    out_path = Path(args.out)
    old = json.loads(out_path.read_text()) if out_path.is_file() else {}
    rows = [r for r in old.get("rows", []) if not (r["factor"] in sizes and r["step"] in steps)]
    try:
        for factor in sizes:
            folder = FIXTURE if factor == 1 else build_trial(factor, tmp / f"x{factor}")
            for step in steps:
                row = {"factor": factor, **run_step(folder, step, args.timeout)}
                rows.append(row)
                print(json.dumps(row), flush=True)
                _write(out_path, rows, args)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


def _step_cpu(r: dict, load: dict | None) -> float:
    """CPU seconds of a step: its process's CPU minus that of the ``load`` step (imports + reading the trial)."""
    return max(r["cpu_seconds"] - (load["cpu_seconds"] if load and r["step"] != "load" else 0.0), 0.01)


def markdown_table(doc: dict) -> str:
    """Step x (1x wall, CPU, peak RSS; the same for the largest factor; CPU ratio) from a results document.

    Wall: the step inside its process (``step_seconds``; ``load``: reading the trial). CPU: the process's
    user + sys seconds minus those of the ``load`` step of the same size. A timed-out step shows the
    timeout and the CPU seconds it had used (a lower bound)."""
    by = {(r["factor"], r["step"]): r for r in doc["rows"]}
    big = max(f for f, _ in by)
    steps = list(dict.fromkeys(s for _, s in by))

    def cells(r):
        if r is None:
            return ["", "", ""]
        load = by.get((r["factor"], "load"))
        if r["exit"] == "timeout":
            return [f"> {r['timeout_seconds']:.0f} s (timeout)", f"> {_step_cpu(r, load):.0f} s",
                    f"{r['peak_rss_mib']:.0f} MiB"]
        wall = r["load_seconds"] if r["step"] == "load" else r.get("step_seconds", float("nan"))
        err = " (error)" if r["exit"] != 0 or r.get("error") else ""
        return [f"{wall:.2f} s{err}", f"{_step_cpu(r, load):.1f} s", f"{r['peak_rss_mib']:.0f} MiB"]

    out = [f"| step | 1x wall | 1x CPU | 1x peak RSS | {big}x wall | {big}x CPU | {big}x peak RSS | wall ratio "
           "| CPU ratio |", "|---|" + "---:|" * 8]
    for s in steps:
        one, many = by.get((1, s)), by.get((big, s))
        wr = cr = ""
        if one is not None and many is not None:
            key = "load_seconds" if s == "load" else "step_seconds"
            gt = "> " if many["exit"] == "timeout" else ""
            w1, wn = one.get(key), many.get(key, many.get("timeout_seconds"))
            wr = f"{gt}{wn / w1:.0f}x" if w1 else ""
            c1 = _step_cpu(one, by.get((1, "load")))
            cr = f"{gt}{_step_cpu(many, by.get((big, 'load'))) / c1:.0f}x" if c1 >= 0.5 else ""
        out.append("| " + " | ".join([s, *cells(one), *cells(many), wr, cr]) + " |")
    return "\n".join(out)


def _write(path: Path, rows: list[dict], args) -> None:
    by = {(r["factor"], r["step"]): r for r in rows}
    ratios = []
    for (f, s), r in sorted(by.items()):
        if f == 1 or (1, s) not in by:
            continue
        one = by[(1, s)]
        ratios.append({"step": s, "factor": f, "wall_ratio": round(r["wall_seconds"] / one["wall_seconds"], 2),
                       "rss_ratio": round(r["peak_rss_mib"] / one["peak_rss_mib"], 2),
                       "timed_out": r["exit"] == "timeout"})
    doc = {"command": "benchmarks/bench_load.py " + " ".join(sys.argv[1:]),
           "date": time.strftime("%Y-%m-%d"), "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                                          "load_average": os.getloadavg()},
           "seed": SEED, "jitter_sd": JITTER_SD, "rows": rows, "ratios": ratios}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
