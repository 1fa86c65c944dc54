"""Simulation study of the joint longitudinal-survival model: recovery, 95% coverage and SBC.

Run from the repository root (resumable: finished trials are kept in OUT and skipped):

    .venv/bin/python benchmarks/joint_model_study.py --trials 200 --chains 2 --draws 500 --tune 500
    .venv/bin/python benchmarks/joint_model_study.py --summary     # tables from the trials done so far

The two parts alternate trial by trial; ``--chains/--draws/--tune`` override the sampler
(recorded per fit in ``timing_*.csv``).

Two parts, each with ``--trials`` simulated two-arm trials of ``--n-per-arm`` patients
(default 22, STROMA-CoV-2's size), measured on days 0-7, 14, 21, 28 until death, ICU
discharge or day 28 (``longmod.engines.joint.simulate.simulate_joint``):

* **coverage** (``--parts coverage``): every trial from the same fixed truth
  (``JointTruth()``: PaO2/FiO2-like, ~8 deaths and ~23 discharges per trial), fitted with
  ``fit_joint_model``'s defaults (data-derived scaling and prior centres; the baseline
  hazards' cuts fixed at the truth's days 7 and 14 so that every trial has the same
  graph); the quantities are the effects rows (trajectory at day 7 and slope, log HR and
  day-28 cumulative-incidence difference of each cause; the true incidence differences
  come from one simulation of 100,000 patients per arm, ``truth_incidence.json``) and
  some parameters; per quantity: bias (with its Monte Carlo SE), RMSE, 95% credible-interval
  coverage (MC SE = sqrt(c (1 - c) / trials)), mean interval width;
* **sbc** (``--parts sbc``): simulation-based calibration (Talts et al. 2018): each trial's
  parameters are drawn from the model's priors (fixed scaling 175 / 70 mmHg / 28 days and
  fixed baseline-hazard prior centres, so that the prior is the same in every trial),
  data simulated from them and fitted; the rank of the true value among 99 thinned
  posterior draws is recorded for the treatment effects (slope and day-0 difference of
  the trajectory, log HR of each cause) and the associations; uniform ranks = calibrated.
  Uniformity: chi-square on 10 bins (``benchmarks/bayes_sbc.py``'s ``uniformity``).

Writes ``coverage_trials.csv``, ``coverage.csv``, ``sbc_ranks.csv``, ``sbc_uniformity.csv``
and ``timing_coverage.csv`` / ``timing_sbc.csv`` (per fit: compile and sampling seconds,
diagnostics) in OUT. The two parts may run as two processes at once (``--parts coverage``
and ``--parts sbc``). Every fit uses ``fit_joint_model``'s default sampler (nutpie,
4 chains x 1000 draws after 1000 tuning steps).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

KW = dict(id="patient_id", time="day", value="value", arm="arm", event_time="event_day", event="event",
          active="active", reference="control", causes={"death": "lower", "discharge": "higher"})
CUTS = {"death": [7.0, 14.0], "discharge": [7.0, 14.0]}
LANDMARK = 7.0
SBC_SCALING = (175.0, 70.0, 28.0)
SBC_LOG_BASE_PER_DAY = {"death": np.log(0.015), "discharge": np.log(0.02)}
N_THIN = 99


def _append(path: Path, rows: list[dict]) -> None:
    new = pd.DataFrame(rows)
    if path.exists() and list(pd.read_csv(path, nrows=0).columns) != list(new.columns):
        new = pd.concat([pd.read_csv(path), new], ignore_index=True)  # a column was added: rewrite with the union
        new.to_csv(path, index=False)
        return
    new.to_csv(path, mode="a", header=not path.exists(), index=False)


def _done(path: Path) -> set[int]:
    return set(pd.read_csv(path)["trial"].unique()) if path.exists() else set()


#: Sampler overrides of every fit (``--chains/--draws/--tune``; empty = ``fit_joint_model``'s default).
SAMPLER: dict = {}


def _timing(fit, part: str, trial: int, wall: float) -> dict:
    d = fit.diagnostics.iloc[0]
    return {"part": part, "trial": trial, "wall_seconds": wall, "compile_seconds": d.compile_seconds,
            "chains": d.get("chains", np.nan), "draws": d.get("draws", np.nan), "tune": d.get("tune", np.nan),
            "sample_seconds": d.sample_seconds, "compile_source": d.compile_source, "divergences": d.divergences,
            "max_r_hat": d.max_r_hat, "min_ess_bulk": d.min_ess_bulk, "converged": d.converged}


def true_incidence(out: Path, n_per_arm: int = 100_000, seed: int = 1) -> dict[str, float]:
    """True day-28 incidence difference per cause under ``JointTruth()`` (simulated once, cached in OUT)."""
    import json

    from longmod.engines.joint.simulate import JointTruth, simulate_joint

    path = out / "truth_incidence.json"
    if path.exists():
        return json.loads(path.read_text())
    _, p = simulate_joint(JointTruth(), n_per_arm=n_per_arm, seed=seed, schedule=(0.0,))
    share = {c: {a: float(((p.arm == a) & (p.event == c)).sum() / n_per_arm) for a in ("active", "control")}
             for c in ("death", "discharge")}
    res = {c: v["active"] - v["control"] for c, v in share.items()}
    res["n_per_arm"] = n_per_arm
    path.write_text(json.dumps(res, indent=1) + "\n")
    return res


def coverage_trial(trial: int, seed: int, n_per_arm: int, ci_truth: dict[str, float]) -> tuple[list[dict], dict]:
    """Simulate from the fixed truth, fit, and return one row per quantity (truth, estimate, interval)."""
    from longmod.engines.joint.fit import fit_joint_model
    from longmod.engines.joint.simulate import JointTruth, simulate_joint

    truth = JointTruth()
    m, p = simulate_joint(truth, n_per_arm=n_per_arm, seed=seed + trial)
    t0 = time.perf_counter()
    fit = fit_joint_model(m, p, **KW, landmark=LANDMARK, followup=28.0, cuts=CUTS, sampler=dict(SAMPLER))
    wall = time.perf_counter() - t0
    true = {("value_at_day", "value"): truth.arm + truth.arm_slope * LANDMARK,
            ("slope_per_day", "value"): truth.arm_slope}
    for c in ("death", "discharge"):
        true[("log_hr", c)] = truth.log_hr[c]
        true[("cumulative_incidence_difference", c)] = ci_truth[c]
    rows = []
    e = fit.effects
    for (par, out), val in true.items():
        r = e[(e.parameter == par) & (e.outcome == out)].iloc[0]
        rows.append({"trial": trial, "quantity": f"{par} ({out})" if out != "value" else par, "truth": val,
                     "estimate": r.estimate, "conf_low": r.conf_low, "conf_high": r.conf_high,
                     "posterior_sd": r.std_error})
    pt = fit.parameters
    extra = {("association_value", c): truth.assoc[c] for c in ("death", "discharge")}
    extra.update({("sigma", ""): truth.sigma, ("re_sd_intercept", ""): truth.re_sd_intercept,
                  ("re_sd_slope", ""): truth.re_sd_slope, ("slope", ""): truth.slope})
    for (par, term), val in extra.items():
        r = pt[(pt.parameter == par) & (pt.term == term)].iloc[0]
        rows.append({"trial": trial, "quantity": f"{par} ({term})" if term else par, "truth": val,
                     "estimate": r["median"], "conf_low": r.conf_low, "conf_high": r.conf_high,
                     "posterior_sd": r.sd})
    for r in rows:
        r.update({"events_death": int((p.event == "death").sum()), "events_discharge": int((p.event == "discharge").sum()),
                  "divergences": fit.diagnostics.divergences[0], "max_r_hat": fit.diagnostics.max_r_hat[0]})
    return rows, _timing(fit, "coverage", trial, wall)


def sbc_trial(trial: int, seed: int, n_per_arm: int) -> tuple[list[dict], dict]:
    """Draw parameters from the prior, simulate, fit; ranks of the true values among thinned draws."""
    from longmod.engines.joint.data import Scaling
    from longmod.engines.joint.fit import fit_joint_model
    from longmod.engines.joint.model import DEFAULT_PRIORS
    from longmod.engines.joint.simulate import draw_from_prior, simulate_joint, truth_from_internal

    rng = np.random.default_rng([seed, trial])
    sc = Scaling(*SBC_SCALING)
    causes = ("death", "discharge")
    centre = {k: SBC_LOG_BASE_PER_DAY[c] + np.log(sc.time_scale) for k, c in enumerate(causes)}
    th = draw_from_prior(rng, DEFAULT_PRIORS, len(causes), len(CUTS["death"]) + 1, centre)
    truth = truth_from_internal(th, sc, causes, (0.0, *CUTS["death"]))
    m, p = simulate_joint(truth, n_per_arm=n_per_arm, seed=int(rng.integers(2**31)))
    t0 = time.perf_counter()
    fit = fit_joint_model(m, p, **KW, landmark=LANDMARK, followup=28.0, cuts=CUTS, scaling=sc,
                          baseline_center=SBC_LOG_BASE_PER_DAY, sampler={**SAMPLER, "seed": int(rng.integers(2**31))})
    wall = time.perf_counter() - t0
    post = fit.idata.posterior
    q = {"arm_slope": (post["beta"].values[..., 3], th["beta"][3]), "arm": (post["beta"].values[..., 2], th["beta"][2])}
    for k, c in enumerate(causes):
        q[f"log_hr ({c})"] = (post[f"log_hr_{k}"].values, th[f"log_hr_{k}"])
        q[f"association ({c})"] = (post[f"assoc_{k}"].values, th[f"assoc_{k}"])
    rows = []
    for name, (draws, true) in q.items():
        flat = draws.ravel()
        thin = flat[np.linspace(0, flat.size - 1, N_THIN).astype(int)]
        rows.append({"trial": trial, "quantity": name, "truth": float(true), "rank": int((thin < true).sum()),
                     "events_death": int((p.event == "death").sum()),
                     "events_discharge": int((p.event == "discharge").sum()),
                     "divergences": fit.diagnostics.divergences[0], "max_r_hat": fit.diagnostics.max_r_hat[0],
                     "min_ess_bulk": fit.diagnostics.min_ess_bulk[0]})
    return rows, _timing(fit, "sbc", trial, wall)


def summarise_coverage(d: pd.DataFrame) -> pd.DataFrame:
    """Per quantity: bias (+ MC SE), RMSE, coverage (+ MC SE), mean width, fits with divergences."""
    out = []
    for q, g in d.groupby("quantity", sort=False):
        n = len(g)
        err = g.estimate - g.truth
        cov = ((g.conf_low <= g.truth) & (g.truth <= g.conf_high)).mean()
        out.append({"quantity": q, "truth": g.truth.iloc[0], "trials": n, "mean_estimate": g.estimate.mean(),
                    "bias": err.mean(), "bias_mcse": err.std(ddof=1) / np.sqrt(n), "rmse": np.sqrt((err**2).mean()),
                    "mean_posterior_sd": g.posterior_sd.mean(), "empirical_sd": g.estimate.std(ddof=1),
                    "coverage_95": cov, "coverage_mcse": np.sqrt(cov * (1 - cov) / n),
                    "mean_width": (g.conf_high - g.conf_low).mean(),
                    "fits_with_divergences": int((g.divergences > 0).sum())})
    return pd.DataFrame(out)


def main(argv: list[str] | None = None) -> None:
    """Command line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--out", default="benchmarks/results_joint_model")
    ap.add_argument("--parts", nargs="+", choices=["coverage", "sbc"], default=["coverage", "sbc"])
    ap.add_argument("--n-per-arm", type=int, default=22)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--chains", type=int, help="sampler override (default: fit_joint_model's)")
    ap.add_argument("--draws", type=int, help="sampler override")
    ap.add_argument("--tune", type=int, help="sampler override")
    ap.add_argument("--summary", action="store_true", help="fit nothing: summarise the trials in OUT")
    a = ap.parse_args(argv)
    SAMPLER.update({k: v for k, v in (("chains", a.chains), ("draws", a.draws), ("tune", a.tune)) if v})
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"load average at start: {', '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    todo = {}
    for part in a.parts:
        path = out / ("coverage_trials.csv" if part == "coverage" else "sbc_ranks.csv")
        done = _done(path) | _done(out / f"failures_{part}.csv")
        if part == "coverage":
            ci_truth = true_incidence(out)
            run = (lambda ci: lambda trial, seed, n: coverage_trial(trial, seed, n, ci))(ci_truth)
        else:
            run = sbc_trial
        todo[part] = (path, done, run)
    # the parts alternate trial by trial, so that an interrupted run has advanced both
    for trial in range(0 if a.summary else a.trials):
        for part, (path, done, run) in todo.items():
            if trial in done:
                continue
            try:
                rows, timing = run(trial, a.seed, a.n_per_arm)
            except Exception as exc:  # noqa: BLE001 - a failed fit is recorded and counted, never dropped silently
                _append(out / f"failures_{part}.csv", [{"trial": trial, "error": f"{type(exc).__name__}: {exc}"}])
                print(f"{part} {trial + 1}/{a.trials}: FAILED ({type(exc).__name__}: {exc})", flush=True)
                continue
            _append(path, rows)
            _append(out / f"timing_{part}.csv", [timing])
            print(f"{part} {trial + 1}/{a.trials}: fit {timing['wall_seconds']:.1f} s "
                  f"(sampling {timing['sample_seconds']:.1f} s, {timing['compile_source']}), "
                  f"divergences {timing['divergences']}, max R-hat {timing['max_r_hat']:.3f}", flush=True)
    for part, (path, done, run) in todo.items():
        if not path.exists():
            continue
        if part == "coverage":
            summ = summarise_coverage(pd.read_csv(path))
            summ.to_csv(out / "coverage.csv", index=False)
            print(summ.round(4).to_string(index=False))
        else:
            from bayes_sbc import uniformity  # benchmarks/ (the script's folder) is on sys.path

            ranks = pd.read_csv(path)
            uni = uniformity(ranks, n_thin=N_THIN)
            uni.to_csv(out / "sbc_uniformity.csv", index=False)
            print(uni.to_string(index=False))


if __name__ == "__main__":
    main()
