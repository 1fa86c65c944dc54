"""A small SYNTHETIC trial folder and a reanalysis of it (report, docs and benchmark helpers).

The bundled fixture may not exist while these tests run, so the tests build
their own SYNTHETIC trial (seeded) and run the STROMA-CoV-2 plan on it; rows of
engines that may not be built yet (MMRM, Bayesian, prior grid, biomarkers) are
added by hand in the common schema so the report's handling of them is tested.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

TRIAL_TOML = """\
[trial]
name = "toy-trial"
title = "Toy trial (SYNTHETIC test data)"
synthetic = true
arms = ["uc_msc", "placebo"]
reference_arm = "placebo"
schedule = [0, 1, 2, 3, 4, 5, 6, 7, 14]
primary_outcome = "pao2_fio2"
primary_day = 7
doses_planned = 3

[covariates.age_gt70]
type = "binary"
role = "stratification"

[covariates.sofa_gt11]
type = "binary"
role = "stratification"

[events.death]
column = "death_day"
kind = "death"

[events.icu_discharge]
column = "icu_discharge_day"
kind = "discharge"

[variables.pao2_fio2]
label = "PaO2/FiO2"
units = "mmHg"
min = 20
max = 700
baseline_required = true
mcid = 20

[variables.sofa]
label = "SOFA"
min = 0
max = 24

[variables.il6]
label = "IL-6"
units = "pg/mL"
min = 0
max = 100000
"""

CALIBRATION = """\
# toy: calibration report (SYNTHETIC pseudo-patient data)

> **SYNTHETIC DATA. These are not the trial's patient data.**

## Targets (2/2 met)

| id | statistic | published | achieved | tolerance | result |
|---|---|---|---|---|---|
| n_msc | patients, uc_msc | 21 | 21 | 0 | pass |
| ancova | ANCOVA estimate | 7.4 | 7.4 | 0.05 | pass |
"""


def write_toy_trial(folder: Path, *, n_per_arm: int = 12, seed: int = 7, calibration: bool = True) -> Path:
    """Write a seeded SYNTHETIC trial folder (trial.toml, patients.csv, measurements.csv[, CALIBRATION.md])."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    pts, ms = [], []
    days = [0, 1, 2, 3, 4, 5, 6, 7, 14]
    for i in range(2 * n_per_arm):
        arm = "uc_msc" if i < n_per_arm else "placebo"
        pid = f"P{i:03d}"
        death = 5 if i in (3, n_per_arm + 4) else None
        disch = 6 if i in (5, n_per_arm + 6) else None
        pts.append({"patient_id": pid, "arm": arm, "age_gt70": int(i % 3 == 0), "sofa_gt11": int(i % 4 == 0),
                    "death_day": death, "icu_discharge_day": disch, "doses_received": 3 if i % 7 else 2})
        pf0 = rng.uniform(90, 160)
        slope = rng.normal(8 if arm == "uc_msc" else 6, 3)
        last = min(d for d in (death, disch, 99) if d is not None)
        for d in days:
            if d >= last:
                break
            ms.append({"patient_id": pid, "day": d, "variable": "pao2_fio2",
                       "value": round(float(np.clip(pf0 + slope * d + rng.normal(0, 15), 30, 650)), 1)})
            ms.append({"patient_id": pid, "day": d, "variable": "sofa",
                       "value": float(np.clip(round(10 - 0.3 * d + rng.normal(0, 1.5)), 0, 24))})
            if d in (0, 7):
                il6 = float(np.exp(rng.normal(3, 1)))
                ms.append({"patient_id": pid, "day": d, "variable": "il6", "value": il6 if il6 > 5 else None,
                           "lloq": 5.0})
    (folder / "trial.toml").write_text(TRIAL_TOML, encoding="utf-8")
    pd.DataFrame(pts).to_csv(folder / "patients.csv", index=False)
    pd.DataFrame(ms).to_csv(folder / "measurements.csv", index=False)
    if calibration:
        (folder / "CALIBRATION.md").write_text(CALIBRATION, encoding="utf-8")
    return folder


def extra_engine_rows() -> pd.DataFrame:
    """Rows of engines that may not exist yet, in the common schema (with diagnostics problems)."""
    from longmod.engines.bayes.summary_grid import prior_grid_reanalysis
    from longmod.results.schema import concat_effects, effects_frame

    base = {"estimand": "primary", "outcome": "pao2_fio2", "contrast": "uc_msc - placebo", "data_label": "synthetic",
            "estimand_label": "Hypothetical (MAR) strategy for death and discharge"}
    rows = []
    for day, est in ((3, 4.0), (7, 9.5), (14, 12.0)):
        rows.append({**base, "analysis": "mmrm_us", "label": "MMRM, unstructured", "day": day, "estimate": est,
                     "std_error": 10.0, "conf_low": est - 20, "conf_high": est + 20, "p_value": 0.5,
                     "engine": "core-mmrm", "converged": True, "warnings": ""})
        rows.append({**base, "analysis": "lmm_ri", "label": "LMM, random intercept", "day": day, "estimate": est + 1,
                     "std_error": 9.0, "conf_low": est - 17, "conf_high": est + 19, "p_value": 0.45,
                     "engine": "statsmodels-mixedlm", "converged": False, "warnings": "Hessian not positive definite"})
    rows.append({**base, "analysis": "bayes_mmrm", "label": "Bayesian MMRM", "day": 7, "estimate": 8.0,
                 "std_error": 11.0, "conf_low": -13.0, "conf_high": 30.0, "engine": "bayes-pymc",
                 "prob_benefit": 0.76, "prob_mcid": 0.14, "r_hat": 1.08, "ess_bulk": 150.0, "divergences": 3.0})
    rows.append({**base, "analysis": "il6_censored", "label": "IL-6 (log), censored at LLOQ", "outcome": "il6_log",
                 "day": 7, "estimate": -0.3, "std_error": 0.2, "conf_low": -0.7, "conf_high": 0.1, "p_value": 0.14,
                 "engine": "core-tobit"})
    grid = prior_grid_reanalysis(7.4, -44.7, 59.7, mcid=20.0, outcome="pao2_fio2_change", day=7)
    grid = grid.assign(analysis="prior_grid", estimand="primary", contrast="uc_msc - placebo",
                       label="Prior grid on the published estimate")
    return concat_effects([effects_frame(rows), grid])


def toy_reanalysis(folder: Path, kinds: tuple[str, ...] | None = None):
    """The bundled STROMA-CoV-2 plan run on the toy trial, plus :func:`extra_engine_rows`.

    Only the plan's single-endpoint analyses (ANCOVA, rank tests) are run by default,
    so the report tests do not depend on the longitudinal/Bayesian engines being
    finished; ``kinds`` selects other analysis kinds of the plan.
    """
    from longmod.pipeline import reanalyse
    from longmod.resources import models_dir
    from longmod.results.schema import concat_effects
    from longmod.spec.plan import load_plan

    path = models_dir() / "stroma_cov2" / "plan.toml"
    plan = load_plan(path)
    kinds = ("ancova", "rank_sum", "signed_rank") if kinds is None else kinds
    res = reanalyse(folder, plan=path, only=[a.name for a in plan.analyses if a.kind in kinds])
    return dataclasses.replace(res, effects=concat_effects([res.effects, extra_engine_rows()]))


