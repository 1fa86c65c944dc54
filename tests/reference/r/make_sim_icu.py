"""Write sim_icu.csv: a small SYNTHETIC ICU-like trial for the R references (seeded, no real data).

60 patients (30 per arm), visits on days 0-7, 14, 21, 28; outcomes stop at a patient's
(random) death or discharge day, so later visits are missing (monotone), plus 5%
intermittent gaps. Outcome: PaO2/FiO2-like, random intercept + slope on day.

    python tests/reference/r/make_sim_icu.py   # then: Rscript tests/reference/r/sim_icu.R
"""

from pathlib import Path

import numpy as np
import pandas as pd

DAYS = [0, 1, 2, 3, 4, 5, 6, 7, 14, 21, 28]


def simulate(seed: int = 20261122) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 60
    arm = np.repeat(["placebo", "msc"], n // 2)
    b0 = rng.normal(0, 30, n)
    b1 = rng.normal(0, 3, n)
    end = rng.choice([5, 7, 14, 21, 28, 99], size=n, p=[0.1, 0.1, 0.15, 0.15, 0.1, 0.4])
    rows = []
    for i in range(n):
        for d in DAYS:
            y = 120 + b0[i] + (4 + b1[i] + (arm[i] == "msc") * 1.5) * d + rng.normal(0, 25)
            if d > end[i] or (d > 0 and rng.random() < 0.05):
                y = np.nan
            rows.append({"pid": f"P{i + 1:02d}", "arm": arm[i], "day": d, "visit": f"D{d}", "pf": round(y, 6)})
    return pd.DataFrame(rows)


if __name__ == "__main__":
    out = Path(__file__).with_name("sim_icu.csv")
    simulate().to_csv(out, index=False)
    print("wrote", out)
