"""Benchmark of the native Gaussian core against R and statsmodels (a script, not a test).

Synthetic two-arm trials (seeded): N patients x 8 visits, unstructured-like
covariance, ~15% of outcomes missing (dropout plus intermittent). Timed in the
same run:

* MMRM, unstructured, REML, Kenward-Roger: native (whole ``fit_native``:
  fit + KR df + LS means + type III) vs ``nlme::gls(corSymm + varIdent)``
  (N <= 500 only) and ``glmmTMB(us())`` (fit only), R via ``Rscript``.
* LMM, random intercept + slope, REML: native (Satterthwaite df) vs
  ``lme4::lmer`` (fit only) and statsmodels ``MixedLM``.

Usage::

    .venv/bin/python benchmarks/bench_core.py --sizes 50 500 5000 50000 --out benchmarks/results_core.json

Then paste the printed Markdown into benchmarks/README.md ("## Frequentist core").
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

VISITS = [f"V{k}" for k in range(1, 9)]


def simulate(n: int, seed: int = 20261122) -> pd.DataFrame:
    """Two-arm trial, 8 visits, heterogeneous AR(1)-like covariance + random slope, ~15% missing."""
    rng = np.random.default_rng(seed + n)
    K = len(VISITS)
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
        "pid": np.repeat(np.arange(n), K).astype(str), "visit": np.tile(VISITS, n), "time": np.tile(t, n),
        "arm": np.repeat(np.where(arm == 1, "act", "ctl"), K), "y": y.ravel(),
    })


def mmrm_spec() -> ModelSpec:
    return ModelSpec(name="bench_mmrm", outcome="y", fixed="arm * visit", subject="pid", visit="visit", time="time",
                     covariance="us", method="reml", df="kenward-roger", treatment=Treatment("arm", "ctl", "act"),
                     levels={"visit": VISITS, "arm": ["ctl", "act"]})


def lmm_spec() -> ModelSpec:
    return mmrm_spec().replace(name="bench_lmm", fixed="arm * time", covariance="ris", df="satterthwaite")


def timed(fn, repeat=1):
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


R_SCRIPT = r"""
suppressPackageStartupMessages({library(nlme); library(glmmTMB); library(lme4)})
a <- commandArgs(TRUE); d <- read.csv(a[1]); what <- a[2]
d$visit <- factor(d$visit, levels = paste0("V", 1:8)); d$arm <- factor(d$arm, levels = c("ctl", "act"))
d$pid <- factor(d$pid); d <- d[!is.na(d$y), ]
el <- NA; ll <- NA
if (what == "gls") {
  el <- system.time(f <- gls(y ~ arm * visit, correlation = corSymm(form = ~ as.integer(visit) | pid),
        weights = varIdent(form = ~ 1 | visit), method = "REML", data = d))[["elapsed"]]; ll <- -2 * as.numeric(logLik(f))
} else if (what == "glmmtmb") {
  el <- system.time(f <- suppressWarnings(glmmTMB(y ~ arm * visit + us(0 + visit | pid), dispformula = ~ 0,
        REML = TRUE, data = d)))[["elapsed"]]; ll <- -2 * as.numeric(logLik(f))
} else if (what == "lmer") {
  el <- system.time(f <- suppressWarnings(lmer(y ~ arm * time + (1 + time | pid), data = d, REML = TRUE)))[["elapsed"]]
  ll <- -2 * as.numeric(logLik(f))
}
cat(sprintf("%.6f %.8f\n", el, ll))
"""


def r_time(csv: Path, what: str, timeout: float) -> tuple[float, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as fh:
        fh.write(R_SCRIPT)
    try:
        out = subprocess.run(["Rscript", fh.name, str(csv), what], capture_output=True, text=True, timeout=timeout)
        el, ll = out.stdout.split()[-2:]
        return float(el), float(ll)
    except (subprocess.TimeoutExpired, ValueError):
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[50, 500, 5000])
    ap.add_argument("--gls-max", type=int, default=500)
    ap.add_argument("--statsmodels-max", type=int, default=5000)
    ap.add_argument("--glmmtmb-max", type=int, default=5000)
    ap.add_argument("--r-timeout", type=float, default=600)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    have_r = shutil.which("Rscript") is not None
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            d = simulate(n)
            csv = Path(tmp) / f"sim_{n}.csv"
            d.to_csv(csv, index=False)
            rep = 3 if n <= 500 else 1
            t_mmrm, f_mmrm = timed(lambda: fit_native(mmrm_spec(), d), rep)
            t_lmm, f_lmm = timed(lambda: fit_native(lmm_spec(), d), rep)
            tracemalloc.start()  # separate run: tracemalloc slows the fit down
            fit_native(mmrm_spec(), d)
            peak_mmrm = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
            row = {"n_patients": n, "n_obs": int(d["y"].notna().sum()), "missing_pct": float(100 * d["y"].isna().mean()),
                   "native_mmrm_s": t_mmrm, "native_mmrm_peak_mib": peak_mmrm,
                   "native_mmrm_neg2ll": f_mmrm.fit_stats["neg2_log_likelihood"],
                   "native_mmrm_converged": f_mmrm.convergence.converged,
                   "native_lmm_s": t_lmm, "native_lmm_neg2ll": f_lmm.fit_stats["neg2_log_likelihood"]}
            if have_r:
                if n <= args.gls_max:
                    row["gls_s"], row["gls_neg2ll"] = r_time(csv, "gls", args.r_timeout)
                if n <= args.glmmtmb_max:
                    row["glmmtmb_s"], row["glmmtmb_neg2ll"] = r_time(csv, "glmmtmb", args.r_timeout)
                row["lmer_s"], row["lmer_neg2ll"] = r_time(csv, "lmer", args.r_timeout)
            if n <= args.statsmodels_max:
                row["statsmodels_s"], row["statsmodels_neg2ll"] = statsmodels_time(d)
            rows.append(row)
            print(json.dumps(row), flush=True)
    res = pd.DataFrame(rows)
    slopes = {}
    for col in ("native_mmrm_s", "native_lmm_s", "glmmtmb_s", "lmer_s", "statsmodels_s"):
        if col in res and res[col].notna().sum() >= 2:
            ok = res[col].notna()
            slopes[col] = float(np.polyfit(np.log(res.loc[ok, "n_patients"]), np.log(res.loc[ok, col]), 1)[0])
    meta = {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
            "command": "benchmarks/bench_core.py " + " ".join(sys.argv[1:]), "slopes_loglog": slopes}
    print(json.dumps(meta))
    if args.out:
        args.out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    cols = ["n_patients", "n_obs", "native_mmrm_s", "gls_s", "glmmtmb_s", "native_lmm_s", "lmer_s", "statsmodels_s",
            "native_mmrm_peak_mib"]
    print(res.reindex(columns=cols).to_markdown(index=False, floatfmt=".3g") if _has_tabulate()
          else res.reindex(columns=cols).to_string(index=False))


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main()
