"""Derive a simulation scenario from a trial's data (e.g. a bundled reconstruction).

Every parameter of the scenario's data-generating model is estimated from the
trial, pooled over arms (so the derived scenario is a *null* scenario unless
``effect`` is given):

* baseline mean and SD of the outcome;
* mean change from baseline at each post-baseline day, its SD, and the
  correlation ``rho`` of ``rho ** |t - s|``, from an unstructured MMRM of the
  observed changes on visit + centred baseline (likelihood-based, so the
  estimates are not biased by patients who died or left the ICU under MAR);
  ``rho`` is the least-squares fit of ``log corr = |t - s| log rho``;
* ``baseline_slope``: the MMRM's baseline coefficient;
* the daily hazards of death and ICU discharge: discrete-time logistic
  regressions on patient-days at risk, of the event on the patient's latest
  value before the day (centred at the baseline mean, scaled by the baseline
  SD). An event with no occurrence gets a zero hazard; one that a logistic fit
  cannot estimate (separation) gets an intercept-only hazard. Which of the
  three happened is written in the scenario's ``description``.

Command line (writes the bundled null scenario; same data, same bytes)::

    python -m longmod.simulate.derive TRIAL --outcome VAR --endpoint-day 7 --out FILE.toml
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return repr(round(float(v), 6)) if math.isfinite(v) else ("-inf" if v < 0 else "inf")
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{k} = {_fmt(x)}" for k, x in v.items()) + " }"
    if isinstance(v, Sequence):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} to TOML")


def to_toml(doc: Mapping[str, Any], header: str = "") -> str:
    """Write a scenario document (tables of scalars, lists, inline tables; arrays of tables) as TOML.

    Examples
    --------
    >>> print(to_toml({"scenario": {"name": "x", "n_per_arm": [10, 20]}, "analyses": [{"name": "a", "kind": "ancova"}]}))
    [scenario]
    name = "x"
    n_per_arm = [10, 20]
    <BLANKLINE>
    [[analyses]]
    name = "a"
    kind = "ancova"
    <BLANKLINE>
    """
    lines = [f"# {h}" if h else "#" for h in header.splitlines()] + ([""] if header else [])
    for key, table in doc.items():
        for t in (table if isinstance(table, list) else [table]):
            lines.append(f"[[{key}]]" if isinstance(table, list) else f"[{key}]")
            lines += [f"{k} = {_fmt(v)}" for k, v in t.items()]
            lines.append("")
    return "\n".join(lines)


def _hazard(days_at_risk: pd.DataFrame, event: str, centre: float, scale: float) -> tuple[dict, str]:
    """Logit-linear daily hazard of ``event`` (column of 0/1) on the scaled latest value."""
    import statsmodels.api as sm

    d = days_at_risk
    k = int(d[event].sum())
    if k == 0:
        return {"intercept": -math.inf}, f"{event}: no event in the data, hazard 0"
    first = int(d.loc[d[event] == 1, "day"].min())
    d = d[d["day"] >= first]
    x = ((d["current"] - centre) / scale).to_numpy()
    y = d[event].to_numpy(float)
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("error")
            fit = sm.Logit(y, sm.add_constant(x)).fit(disp=0)
        a, b = (float(v) for v in fit.params)
        if not (np.isfinite(a) and np.isfinite(b)) or abs(b) > 10:
            raise ValueError("separation")
        how = f"{event}: logistic on the latest value ({k} events, slope {b:.3f} per SD)"
        return {"intercept": a, "slope": b, "centre": centre, "scale": scale, "earliest_day": first}, how
    except Exception:  # separation / no convergence: constant hazard, said in the description
        p = k / len(d)
        return ({"intercept": math.log(p / (1 - p)), "earliest_day": first},
                f"{event}: the logistic fit failed (separation); constant daily hazard {p:.4f} ({k} events)")


def scenario_from_data(
    patients: pd.DataFrame, measurements: pd.DataFrame, *, outcome: str, schedule: Sequence[int], endpoint_day: int,
    arms: Sequence[str], reference_arm: str, death_column: str | None, discharge_column: str | None,
    name: str, n_per_arm: Sequence[int], effect: Sequence[float] = (0.0,), better: str = "higher",
    bounds: tuple[float, float] = (-math.inf, math.inf), decimals: int = 1, derived_from: str = "",
) -> dict[str, Any]:
    """A scenario document (see :mod:`longmod.simulate.scenario`) estimated from one trial's tables.

    Parameters
    ----------
    patients : DataFrame
        ``patient_id``, the arm column ``arm`` and the event-day columns named by
        ``death_column`` / ``discharge_column`` (None: no such event).
    measurements : DataFrame
        Long table ``patient_id, day, variable, value``.
    outcome, schedule, endpoint_day, arms, reference_arm
        The outcome (a ``variable`` value), the days (baseline first), the
        endpoint, the arms.
    name, n_per_arm, effect, better, bounds, decimals, derived_from
        Written into the scenario as given.

    Returns
    -------
    dict
        Parse it with :func:`longmod.simulate.scenario.parse_scenario`, write it
        with :func:`to_toml`.
    """
    from longmod.engines.registry import fit_model
    from longmod.spec.model import ModelSpec

    base_day, post = int(schedule[0]), [int(d) for d in schedule[1:]]
    v = measurements[(measurements["variable"] == outcome) & measurements["value"].notna()]
    base = v[v["day"] == base_day].set_index("patient_id")["value"]
    mu0, sd0 = float(base.mean()), float(base.std(ddof=1))
    long = v[v["day"].isin(post)].join(base.rename("baseline"), on="patient_id", how="inner")
    long = long.assign(change=long["value"] - long["baseline"], cbase=long["baseline"] - mu0,
                       visit="D" + long["day"].astype(int).astype(str))
    spec = ModelSpec(name="derive", outcome="change", fixed="visit + cbase", subject="patient_id", visit="visit",
                     time="day", covariance="us", df="residual", levels={"visit": [f"D{d}" for d in post]})
    fit = fit_model(spec, long)
    if not fit.convergence.converged:
        raise ValueError(f"the MMRM behind the scenario did not converge: {'; '.join(fit.convergence.warnings)}")
    params = fit.params.set_index("term")["estimate"]
    means = [float(params["(Intercept)"]) + (float(params[f"visitD{d}"]) if f"visitD{d}" in params else 0.0) for d in post]
    S = fit.extras["covariance_matrix"].to_numpy()
    sd = np.sqrt(np.diag(S))
    corr = S / np.outer(sd, sd)
    i, j = np.triu_indices(len(post), 1)
    dist = np.abs(np.subtract.outer(post, post))[i, j].astype(float)
    c = np.clip(corr[i, j], 1e-3, 0.999)
    rho = float(np.exp(np.sum(dist * np.log(c)) / np.sum(dist**2)))

    pts = patients.set_index("patient_id")
    rows = []
    wide = v.pivot_table(index="patient_id", columns="day", values="value")
    for pid, p in pts.iterrows():
        if pid not in wide.index or pd.isna(wide.loc[pid].get(base_day)):
            continue
        ev = {k: float(p[c]) if c and pd.notna(p[c]) else math.inf for k, c in (("death", death_column), ("discharge", discharge_column))}
        end = min(ev["death"], ev["discharge"], post[-1])
        current = float(wide.loc[pid, base_day])
        for d in range(base_day + 1, int(end) + 1):
            rows.append({"day": d, "current": current, "death": int(d == ev["death"]),
                         "discharge": int(d == ev["discharge"] and d != ev["death"])})
            if d in wide.columns and pd.notna(wide.loc[pid, d]):
                current = float(wide.loc[pid, d])
    at_risk = pd.DataFrame(rows)
    death, how_d = _hazard(at_risk, "death", mu0, sd0)
    discharge, how_c = _hazard(at_risk, "discharge", mu0, sd0)
    ref = reference_arm
    desc = (f"Derived from {derived_from or 'a trial'} by longmod.simulate.derive: baseline, change means/SDs and "
            f"correlation from an unstructured MMRM of the observed changes (rho fitted to the correlations); "
            f"{how_d}; {how_c}. Arms pooled: the arms differ only by 'effect'.")
    return {
        "scenario": {"name": name, "description": desc, "derived_from": derived_from, "arms": list(arms),
                     "reference_arm": ref, "schedule": [base_day, *post], "endpoint_day": int(endpoint_day),
                     "n_per_arm": [int(n) for n in n_per_arm], "effect": [float(e) for e in effect], "alpha": 0.05},
        "outcome": {"name": outcome, "baseline_mean": mu0, "baseline_sd": sd0, "change_mean": means,
                    "change_sd": [float(x) for x in sd], "correlation": rho,
                    "baseline_slope": float(params["cbase"]), "min": bounds[0], "max": bounds[1], "better": better,
                    "decimals": decimals},
        "death": death, "discharge": discharge,
    }


def _event_column(trial, kind: str, given: str | None) -> str | None:
    """The patients-table column of the trial's ``kind`` event (declared in trial.toml), or ``given``."""
    if given:
        return given
    for ev in dict(getattr(trial.meta, "events", {}) or {}).values():
        if getattr(ev, "kind", None) == kind:
            return ev.column
    return None


def main(argv: list[str] | None = None) -> int:
    """``python -m longmod.simulate.derive``: write a null scenario derived from a (bundled) trial."""
    from longmod.data import load_trial
    from longmod.resources import fixtures_dir

    ap = argparse.ArgumentParser(prog="python -m longmod.simulate.derive", description=__doc__.split("\n\n")[0])
    ap.add_argument("trial", help="bundled trial name (e.g. stroma-cov2) or a trial folder")
    ap.add_argument("--outcome", required=True, help="measured variable to simulate")
    ap.add_argument("--endpoint-day", type=int, required=True)
    ap.add_argument("--days", type=int, nargs="+", help="post-baseline days to simulate (default: schedule up to the endpoint)")
    ap.add_argument("--n-per-arm", type=int, nargs="+", default=[20, 45, 90])
    ap.add_argument("--effect", type=float, nargs="+", default=[0.0])
    ap.add_argument("--death-column", help="patients column of the death day (default: the trial's death event)")
    ap.add_argument("--discharge-column", help="patients column of the ICU discharge day (default: the trial's discharge event)")
    ap.add_argument("--name", required=True)
    ap.add_argument("--out", required=True, type=Path)
    a = ap.parse_args(argv)
    folder = Path(a.trial) if Path(a.trial).is_dir() else fixtures_dir() / a.trial.replace("-", "_")
    trial = load_trial(folder)
    meta = trial.meta
    var = meta.variables.get(a.outcome)
    days = a.days or [d for d in meta.schedule if 0 < d <= a.endpoint_day]
    base_day = int(getattr(meta, "baseline_day", meta.schedule[0]))
    doc = scenario_from_data(
        trial.patients, trial.measurements, outcome=a.outcome, schedule=[base_day, *days], endpoint_day=a.endpoint_day,
        arms=list(meta.arms), reference_arm=meta.reference_arm,
        death_column=_event_column(trial, "death", a.death_column),
        discharge_column=_event_column(trial, "discharge", a.discharge_column), name=a.name, n_per_arm=a.n_per_arm,
        effect=a.effect, better=getattr(var, "better", "higher") or "higher",
        bounds=(var.min if var and var.min is not None else -math.inf, var.max if var and var.max is not None else math.inf),
        derived_from=meta.name + (" (SYNTHETIC reconstruction)" if meta.synthetic else ""),
    )
    cmd = " ".join(["python -m longmod.simulate.derive", *(argv if argv is not None else __import__("sys").argv[1:])])
    text = to_toml(doc, header=f"Simulation scenario derived from {doc['scenario']['derived_from']}.\nWritten by: {cmd}\n"
                   "Add [estimand] and [[analyses]] tables below (the derivation writes the data-generating model only).")
    a.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
