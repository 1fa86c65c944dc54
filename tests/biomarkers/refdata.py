"""Seeded inputs of the R reference scripts in tests/reference/r_biomarkers/ (SYNTHETIC data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from longmod.biomarkers.simulate import simulate_biomarkers

REF = Path(__file__).resolve().parents[1] / "reference" / "r_biomarkers"
#: Arm labels written into the committed R inputs (the simulator's labels when they were made).
ARMS = ("uc_msc", "placebo")


def wilcoxon_input() -> pd.DataFrame:
    """12 markers, 0% to 60% censored, seed 20240611 (input of wilcoxon_bh.R)."""
    return simulate_biomarkers(12, censor_fractions=np.linspace(0.0, 0.6, 12), seed=20240611, arms=ARMS)


def tobit_input() -> pd.DataFrame:
    """One marker, ~35% censored, plus a continuous covariate x (input of tobit_survreg.R)."""
    d = simulate_biomarkers(1, censor_fractions=[0.35], seed=20240612, n_active=60, n_reference=60, arms=ARMS)
    rng = np.random.default_rng(99)
    x = np.round(rng.normal(size=len(d)), 6)
    ylog = np.log10(d["value"].to_numpy()) + 0.2 * x
    lim = np.log10(d["lloq"].to_numpy())
    cens = d["censored"].to_numpy() | (ylog < lim)
    y = np.where(cens, lim, ylog)
    return pd.DataFrame({"y": np.round(y, 10), "event": (~cens).astype(int), "arm": d["arm"], "day": d["day"], "x": x})


def write_inputs() -> None:
    """(Re)write both CSV inputs beside the R scripts."""
    wilcoxon_input().to_csv(REF / "wilcoxon_input.csv", index=False)
    tobit_input().to_csv(REF / "tobit_input.csv", index=False)


if __name__ == "__main__":
    write_inputs()
