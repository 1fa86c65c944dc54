"""A user's own trial folder, SIMULATED with seeded code: own arm names, covariates, events and schedule.

Used by the pipeline tests and by the docs' "Your own trial, end to end" page
(included there verbatim), so the example in the docs is the one the tests run.
Nothing here resembles a bundled trial: two arms ``vitamin_c`` and
``usual_care``, stratification by ``frail`` (0/1) and ``centre`` (3 levels), a
numeric ``age`` covariate, death and ICU discharge recorded in ``died_on`` and
``left_icu_on``, visits on days 0, 2, 4, 7, 10 and 14, and two outcomes:
``spo2_fio2`` (higher is better, MCID 15) and ``lactate`` (lower is better,
no MCID).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

TRIAL_TOML = """\
[trial]
name = "vitc-sim"
title = "Vitamin C vs usual care in septic shock (SIMULATED example)"
synthetic = false
arms = ["vitamin_c", "usual_care"]
reference_arm = "usual_care"
schedule = [0, 2, 4, 7, 10, 14]
primary_outcome = "spo2_fio2"
primary_day = 7

[covariates.frail]
type = "binary"
role = "stratification"
label = "Clinical frailty scale >= 5"

[covariates.centre]
type = "categorical"
role = "stratification"
levels = ["lyon", "nantes", "lille"]

[covariates.age]
type = "numeric"
label = "Age (years)"

[events.death]
column = "died_on"
kind = "death"

[events.icu_discharge]
column = "left_icu_on"
kind = "discharge"

[variables.spo2_fio2]
label = "SpO2/FiO2"
min = 50
max = 500
baseline_required = true
mcid = 15
better = "higher"

[variables.lactate]
label = "Lactate"
units = "mmol/L"
min = 0.2
max = 30
better = "lower"
"""

DAYS = (0, 2, 4, 7, 10, 14)


def write_own_trial(folder: str | Path, *, n: int = 60, seed: int = 2024) -> Path:
    """Write ``trial.toml``, ``patients.csv`` and ``measurements.csv`` of the simulated trial (same bytes per seed)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    patients, rows = [], []
    for i in range(n):
        pid = f"VC-{i + 1:03d}"
        arm = "vitamin_c" if i % 2 == 0 else "usual_care"
        frail = int(rng.random() < 0.35)
        centre = ("lyon", "nantes", "lille")[i % 3]
        age = round(float(rng.normal(64, 11)), 1)
        died = int(rng.integers(3, 13)) if rng.random() < 0.15 + 0.1 * frail else None
        left = int(rng.integers(5, 14)) if died is None and rng.random() < 0.3 else None
        patients.append({"patient_id": pid, "arm": arm, "frail": frail, "centre": centre, "age": age,
                         "died_on": died, "left_icu_on": left})
        sf0 = rng.normal(170, 35) - 15 * frail
        slope = rng.normal(7.0 if arm == "vitamin_c" else 5.0, 2.0)
        lac0 = float(np.exp(rng.normal(1.2, 0.4)))
        end = min(d for d in (died, left, 99) if d is not None)
        for day in DAYS:
            if day >= end:
                break
            sf = float(np.clip(sf0 + slope * day + rng.normal(0, 18), 60, 480))
            rows.append({"patient_id": pid, "day": day, "variable": "spo2_fio2", "value": round(sf, 1)})
            if rng.random() < 0.9 or day == 0:
                lac = float(np.clip(lac0 * np.exp(-0.06 * day + rng.normal(0, 0.2)), 0.3, 20))
                rows.append({"patient_id": pid, "day": day, "variable": "lactate", "value": round(lac, 2)})
    (folder / "trial.toml").write_text(TRIAL_TOML, encoding="utf-8")
    pd.DataFrame(patients).to_csv(folder / "patients.csv", index=False)
    pd.DataFrame(rows).to_csv(folder / "measurements.csv", index=False)
    return folder
