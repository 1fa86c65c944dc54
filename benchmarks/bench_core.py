"""Benchmark of the native Gaussian core against R and statsmodels (a script, not a test).

Every row times the native engine and its R counterparts **in the same run**, one after
the other (R via ``Rscript``, fit only, timed inside R with ``system.time``; native: the
whole ``fit_native`` call, i.e. data preparation, fit, df, LS means and Type III tests).

Cases:

* ``mmrm``: synthetic two-arm trials (seeded), N patients x K visits (8 by default, plus
  the ``--visits`` rows), ~15% of outcomes missing (dropout plus intermittent).
  Unstructured, REML, Kenward-Roger, LS means: native vs ``nlme::gls(corSymm + varIdent)``
  (N <= ``--gls-max``) and ``glmmTMB(us())`` (N <= ``--glmmtmb-max``).
  A random intercept + slope LMM (``ris``, Satterthwaite) on the same data (times on the
  visit grid) vs ``lme4::lmer`` and statsmodels ``MixedLM``.
* ``bcva``: openpharma/mmrm's ``bcva_data`` (1,000 patients, 10 visits, Apache-2.0, copied in
  ``benchmarks/data/``), ``BCVA_CHG ~ BCVA_BL + RACE + ARMCD * AVISIT``, unstructured, REML,
  Kenward-Roger, LS means vs gls and glmmTMB (mmrm's own benchmark model).
* ``lmm_irregular``: random intercept + slope LMM with **irregular times** (each patient
  measured 3-10 times at continuous times on days 0-28, no two patients sharing a time),
  REML, Satterthwaite, vs ``lme4::lmer`` (``--lmm-sizes``).

Usage (from the repository root; ``nice`` because the machine is shared)::

    nice -n 5 .venv/bin/python benchmarks/bench_core.py --sizes 50 500 5000 --visits 12 20 \\
        --bcva --lmm-sizes 5000 50000 --out benchmarks/results_core.json

Then paste the printed Markdown into benchmarks/README.md ("## Frequentist core") with the
``uptime`` load printed at the start and the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from longmod.engines.native import fit_native  # noqa: E402
from longmod.spec.model import ModelSpec, Treatment  # noqa: E402

BCVA_CSV = ROOT / "benchmarks" / "data" / "bcva_data.csv"


def visits(K: int = 8) -> list[str]:
    return [f"V{k}" for k in range(1, K + 1)]


def simulate(n: int, seed: int = 20261122, visits: int = 8) -> pd.DataFrame:
    """Two-arm trial, K visits, heterogeneous AR(1)-like covariance + random slope, ~15% missing.

    With the default 8 visits the data are those of every earlier run of this benchmark.
    """
    rng = np.random.default_rng(seed + n + (0 if visits == 8 else 1000 * visits))
    vis = globals()["visits"](visits)
    K = len(vis)
    t = np.arange(K, dtype=float)
    sd = np.linspace(4.0, 7.0, K)
    R = 0.7 ** np.abs(t[:, None] - t[None, :])
    S = sd[:, None] * R * sd[None, :] + 0.3 * np.outer(t, t)
    arm = rng.permutation(np.repeat([0, 1], (n + 1) // 2)[:n])
    e = rng.multivariate_normal(np.zeros(K), S, size=n)
    y = 50 + 1.5 * t[None, :] + arm[:, None] * 0.5 * t[None, :] + e
    drop = rng.random(n) < 0.25
    start = rng.integers(2, K, size=n)
    miss = (rng.random((n, K)) < 0.05) | (drop[:, None] & (np.arange(K)[None, :] >= start[:, None]))
    miss[:, 0] = False
    y[miss] = np.nan
    return pd.DataFrame({
        "pid": np.repeat(np.arange(n), K).astype(str), "visit": np.tile(vis, n), "vnum": np.tile(np.arange(1, K + 1), n),
        "time": np.tile(t, n), "arm": np.repeat(np.where(arm == 1, "act", "ctl"), K), "y": y.ravel(),
    })


def mmrm_spec(K: int = 8) -> ModelSpec:
    return ModelSpec(name="bench_mmrm", outcome="y", fixed="arm * visit", subject="pid", visit="visit", time="time",
                     covariance="us", method="reml", df="kenward-roger", treatment=Treatment("arm", "ctl", "act"),
                     levels={"visit": visits(K), "arm": ["ctl", "act"]})


def lmm_spec() -> ModelSpec:
    return mmrm_spec().replace(name="bench_lmm", fixed="arm * time", covariance="ris", df="satterthwaite")


def simulate_irregular(n: int, seed: int = 20261201) -> pd.DataFrame:
    """Random intercept + slope data at irregular times: 3-10 visits per patient at continuous days 0-28."""
    rng = np.random.default_rng(seed + n)
    m = rng.integers(3, 11, size=n)
    pid = np.repeat(np.arange(n), m)
    t = np.round(rng.uniform(0.0, 28.0, size=m.sum()), 6)
    arm = rng.permutation(np.repeat([0, 1], (n + 1) // 2)[:n])
    G = np.array([[16.0, -0.2], [-0.2, 0.04]])
    b = rng.multivariate_normal(np.zeros(2), G, size=n)
    a = arm[pid]
    y = 50 + 1.0 * t + a * (1.0 + 0.3 * t) + b[pid, 0] + b[pid, 1] * t + rng.normal(scale=3.0, size=len(t))
    return pd.DataFrame({"pid": pid.astype(str), "arm": np.where(a == 1, "act", "ctl"), "time": t, "y": y})


def irregular_spec() -> ModelSpec:
    return ModelSpec(name="bench_lmm_irregular", outcome="y", fixed="arm * time", subject="pid", visit=None,
                     time="time", covariance="ris", method="reml", df="satterthwaite",
                     treatment=Treatment("arm", "ctl", "act"), levels={"arm": ["ctl", "act"]})


def bcva(path: Path = BCVA_CSV) -> tuple[pd.DataFrame, ModelSpec]:
    d = pd.read_csv(path)
    vis = [f"VIS{k:02d}" for k in range(1, 11)]
    spec = ModelSpec(name="bench_bcva", outcome="BCVA_CHG", fixed="BCVA_BL + RACE + ARMCD * AVISIT", subject="USUBJID",
                     visit="AVISIT", covariance="us", method="reml", df="kenward-roger",
                     treatment=Treatment("ARMCD", "CTL", "TRT"),
                     levels={"AVISIT": vis, "ARMCD": ["CTL", "TRT"], "RACE": ["Asian", "Black", "White"]})
    return d, spec


def timed(fn, repeat=1, cpu=None):
    """Best wall time of ``repeat`` calls (and the CPU time of that call in ``cpu[0]``)."""
    best, out = np.inf, None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        w = time.perf_counter() - t0
        if w < best:
            best = w
            if cpu is not None:
                cpu[:] = [time.process_time() - c0]
    return best, out


R_SCRIPT = r"""
suppressPackageStartupMessages({library(nlme); library(glmmTMB); library(lme4)})
a <- commandArgs(TRUE); d <- read.csv(a[1]); what <- a[2]
kv <- strsplit(a[-(1:2)], "=", fixed = TRUE); o <- setNames(lapply(kv, `[`, 2), sapply(kv, `[`, 1))
d <- d[!is.na(d[[o$y]]), ]
if (!is.null(o$visit)) d[[o$visit]] <- factor(d[[o$visit]], levels = unique(d[[o$visit]][order(d[[o$vnum]])]))
d[[o$arm]] <- factor(d[[o$arm]], levels = c(o$ref, setdiff(unique(d[[o$arm]]), o$ref)))
d[[o$subject]] <- factor(d[[o$subject]])
fixed <- as.formula(paste(o$y, "~", o$fixed))
st <- c(elapsed = NA, user.self = NA, sys.self = NA, user.child = 0, sys.child = 0); ll <- NA
if (what == "gls") {
  cor <- corSymm(form = as.formula(paste("~ as.integer(", o$visit, ") |", o$subject)))
  w <- varIdent(form = as.formula(paste("~ 1 |", o$visit)))
  st <- system.time(f <- gls(fixed, correlation = cor, weights = w, method = "REML", data = d))
  ll <- -2 * as.numeric(logLik(f))
} else if (what == "glmmtmb") {
  fo <- as.formula(paste(o$y, "~", o$fixed, "+ us(0 +", o$visit, "|", o$subject, ")"))
  st <- system.time(f <- suppressWarnings(glmmTMB(fo, dispformula = ~ 0, REML = TRUE, data = d)))
  ll <- -2 * as.numeric(logLik(f))
} else if (what == "lmer") {
  fo <- as.formula(paste(o$y, "~", o$fixed, "+ (1 +", o$time, "|", o$subject, ")"))
  st <- system.time(f <- suppressWarnings(lmer(fo, data = d, REML = TRUE)))
  ll <- -2 * as.numeric(logLik(f))
}
cpu <- sum(st[c("user.self", "sys.self", "user.child", "sys.child")], na.rm = TRUE)
cat(sprintf("%.6f %.6f %.8f\n", st[["elapsed"]], cpu, ll))
"""

SIM_R = {"y": "y", "fixed": "arm * visit", "visit": "visit", "vnum": "vnum", "arm": "arm", "ref": "ctl",
         "subject": "pid", "time": "time"}
BCVA_R = {"y": "BCVA_CHG", "fixed": "BCVA_BL + RACE + ARMCD * AVISIT", "visit": "AVISIT", "vnum": "VISITN",
          "arm": "ARMCD", "ref": "CTL", "subject": "USUBJID"}
LMM_R = {"y": "y", "fixed": "arm * time", "arm": "arm", "ref": "ctl", "subject": "pid", "time": "time"}


def r_time(csv: Path, what: str, opts: dict, timeout: float, row: dict | None = None) -> tuple[float, float]:
    """Elapsed seconds and -2 log L of an R fit (its CPU seconds go to ``row[what + "_cpu_s"]``)."""
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as fh:
        fh.write(R_SCRIPT)
    try:
        out = subprocess.run(["Rscript", fh.name, str(csv), what, *[f"{k}={v}" for k, v in opts.items()]],
                             capture_output=True, text=True, timeout=timeout)
        el, cpu, ll = out.stdout.split()[-3:]
        if row is not None:
            row[f"{what}_cpu_s"] = float(cpu)
        return float(el), float(ll)
    except subprocess.TimeoutExpired:
        return float("inf"), float("nan")  # reported as "> timeout"
    except ValueError:
        return float("nan"), float("nan")
    finally:
        os.unlink(fh.name)


def statsmodels_time(d: pd.DataFrame) -> tuple[float, float]:
    import warnings

    from statsmodels.regression.mixed_linear_model import MixedLM

    from longmod.engines.core.prepare import prepare

    prep = prepare(lmm_spec(), d)
    Z = np.column_stack([np.ones(len(prep.y)), prep.frame["time"].to_numpy(float)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # benchmark timing only; the engine records warnings
        el, res = timed(lambda: MixedLM(prep.y, prep.X, groups=prep.subject, exog_re=Z).fit(reml=True, method=["lbfgs"]))
    return el, -2 * float(res.llf)


def _native(row: dict, prefix: str, spec: ModelSpec, d: pd.DataFrame, rep: int, memory: bool = False) -> None:
    cpu = [np.nan]
    t, f = timed(lambda: fit_native(spec, d), rep, cpu)
    row[f"{prefix}_s"] = t
    row[f"{prefix}_cpu_s"] = cpu[0]
    row[f"{prefix}_neg2ll"] = f.fit_stats["neg2_log_likelihood"]
    row[f"{prefix}_converged"] = bool(f.convergence.converged)
    row[f"{prefix}_optimizer"] = f.convergence.optimizer
    if memory:
        tracemalloc.start()  # separate run: tracemalloc slows the fit down
        fit_native(spec, d)
        row[f"{prefix}_peak_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()


def _ratios(row: dict, native: str, others: tuple[str, ...]) -> None:
    """R time / native time (wall and CPU), and the relative -2 log L difference (R - native) / native."""
    for o in others:
        if np.isfinite(row.get(f"{o}_s", np.nan)) and row.get(f"{native}_s"):
            row[f"{o}_over_{native}"] = row[f"{o}_s"] / row[f"{native}_s"]
        if np.isfinite(row.get(f"{o}_cpu_s", np.nan)) and row.get(f"{native}_cpu_s"):
            row[f"{o}_over_{native}_cpu"] = row[f"{o}_cpu_s"] / row[f"{native}_cpu_s"]
        if np.isfinite(row.get(f"{o}_neg2ll", np.nan)):
            row[f"{o}_neg2ll_rel"] = (row[f"{o}_neg2ll"] - row[f"{native}_neg2ll"]) / abs(row[f"{native}_neg2ll"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=[50, 500, 5000], help="patients, 8-visit MMRM rows")
    ap.add_argument("--visits", type=int, nargs="*", default=[], help="extra MMRM rows with this many visits")
    ap.add_argument("--visits-patients", type=int, default=500, help="patients of the --visits rows")
    ap.add_argument("--bcva", action="store_true", help="add the bcva_data row")
    ap.add_argument("--lmm-sizes", type=int, nargs="*", default=[], help="patients, irregular-time LMM rows")
    ap.add_argument("--gls-max", type=int, default=1000)
    ap.add_argument("--gls-max-visits", type=int, default=12, help="gls only up to this many visits")
    ap.add_argument("--statsmodels-max", type=int, default=5000)
    ap.add_argument("--glmmtmb-max", type=int, default=5000)
    ap.add_argument("--no-r", action="store_true")
    ap.add_argument("--r-timeout", type=float, default=900)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    have_r = shutil.which("Rscript") is not None and not args.no_r
    TIMEOUT[0] = args.r_timeout
    load_start = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cases = [("mmrm", n, 8) for n in args.sizes] + [("mmrm", args.visits_patients, K) for K in args.visits]
        cases += [("bcva", 1000, 10)] if args.bcva else []
        cases += [("lmm_irregular", n, 0) for n in args.lmm_sizes]
        for case, n, K in cases:
            csv = Path(tmp) / f"{case}_{n}_{K}.csv"
            rep = 3 if n <= 500 else 1
            row = {"case": case, "n_patients": n, "visits": K}
            if case == "mmrm":
                d = simulate(n, visits=K)
                row |= {"n_obs": int(d["y"].notna().sum()), "missing_pct": float(100 * d["y"].isna().mean())}
                _native(row, "native_mmrm", mmrm_spec(K), d, rep, memory=True)
                if K == 8:
                    _native(row, "native_lmm", lmm_spec(), d, rep)
                d.to_csv(csv, index=False)
                if have_r:
                    if n <= args.gls_max and (K <= args.gls_max_visits):
                        row["gls_s"], row["gls_neg2ll"] = r_time(csv, "gls", SIM_R, args.r_timeout, row)
                    if n <= args.glmmtmb_max:
                        row["glmmtmb_s"], row["glmmtmb_neg2ll"] = r_time(csv, "glmmtmb", SIM_R, args.r_timeout, row)
                    if K == 8:
                        row["lmer_s"], row["lmer_neg2ll"] = r_time(csv, "lmer", SIM_R | {"fixed": "arm * time"},
                                                                   args.r_timeout, row)
                if K == 8 and n <= args.statsmodels_max:
                    row["statsmodels_s"], row["statsmodels_neg2ll"] = statsmodels_time(d)
                _ratios(row, "native_mmrm", ("gls", "glmmtmb"))
                _ratios(row, "native_lmm", ("lmer", "statsmodels"))
            elif case == "bcva":
                d, spec = bcva()
                row["n_obs"] = len(d)
                _native(row, "native_mmrm", spec, d, 3, memory=True)
                d.to_csv(csv, index=False)
                if have_r:
                    row["gls_s"], row["gls_neg2ll"] = r_time(csv, "gls", BCVA_R, args.r_timeout, row)
                    row["glmmtmb_s"], row["glmmtmb_neg2ll"] = r_time(csv, "glmmtmb", BCVA_R, args.r_timeout, row)
                _ratios(row, "native_mmrm", ("gls", "glmmtmb"))
            else:
                d = simulate_irregular(n)
                row |= {"n_obs": len(d), "distinct_times": int(d["time"].nunique())}
                _native(row, "native_lmm", irregular_spec(), d, rep)
                d.to_csv(csv, index=False)
                if have_r:
                    row["lmer_s"], row["lmer_neg2ll"] = r_time(csv, "lmer", LMM_R, args.r_timeout, row)
                _ratios(row, "native_lmm", ("lmer",))
            rows.append(row)
            print(json.dumps(row), flush=True)
    meta = {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
            "command": "benchmarks/bench_core.py " + " ".join(sys.argv[1:]),
            "loadavg_start": load_start, "loadavg_end": os.getloadavg(),
            "date": time.strftime("%Y-%m-%d %H:%M")}
    print(json.dumps(meta))
    if args.out:
        args.out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    print(markdown(rows))


TIMEOUT = [900.0]


def _fmt(x, unit=" s"):
    if x == float("inf"):
        return f"> {TIMEOUT[0]:.0f}{unit} (stopped)"
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "—"
    return f"{x:.3g}{unit}" if x < 10 else f"{x:.1f}{unit}"


def _cell(r: dict, k: str, native: str) -> str:
    """R time with the ratios R / native (wall; CPU)."""
    if f"{k}_s" not in r:
        return "—"
    out = _fmt(r[f"{k}_s"])
    ratios = [f"{r[key]:.0f}x" if r[key] >= 10 else f"{r[key]:.2g}x"
              for key in (f"{k}_over_{native}", f"{k}_over_{native}_cpu") if key in r]
    return out + (f" ({'; CPU '.join(ratios)})" if ratios else "")


def markdown(rows: list[dict]) -> str:
    """The README tables: wall times, ratios R / native in wall time and (after "CPU") in CPU time."""
    out = ["| data | patients x visits | obs | native MMRM wall (CPU) | nlme::gls (ratio) | glmmTMB (ratio) |",
           "|---|---|---:|---:|---:|---:|"]
    for r in rows:
        if r["case"] in ("mmrm", "bcva"):
            name = "bcva_data" if r["case"] == "bcva" else "simulated"
            out.append(f"| {name} | {r['n_patients']:,} x {r['visits']} | {r['n_obs']:,} | "
                       f"{_fmt(r['native_mmrm_s'])} ({_fmt(r.get('native_mmrm_cpu_s'))}) | "
                       f"{_cell(r, 'gls', 'native_mmrm')} | {_cell(r, 'glmmtmb', 'native_mmrm')} |")
    out += ["", "| data | patients | obs | native LMM (ris) wall (CPU) | lme4 (ratio lme4 / native) | statsmodels |",
            "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        if "native_lmm_s" in r:
            name = "irregular times" if r["case"] == "lmm_irregular" else "8-visit grid"
            out.append(f"| {name} | {r['n_patients']:,} | {r['n_obs']:,} | {_fmt(r['native_lmm_s'])} "
                       f"({_fmt(r.get('native_lmm_cpu_s'))}) | {_cell(r, 'lmer', 'native_lmm')} | "
                       f"{_fmt(r.get('statsmodels_s'))} |")
    return "\n".join(out)


if __name__ == "__main__":
    main()
