"""Write the simulated WHO-scale data that ordinal.R and the tests read (seeded, same bytes on re-run).

``who_long.csv``: 30 patients (15 per arm) scored on a WHO-like 0-10 scale on days
0, 1, 2, 4, 7, 10, 14 from a cumulative-logit model with a patient random
intercept (SD 1.5), a linear day trend and a treatment shift towards lower
(better) categories; a few missing visits. ``day_f`` is the day as a label.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import special

HERE = Path(__file__).resolve().parent


def who_long(seed: int = 2024) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    theta = np.array([-4.0, -2.0, -0.5, 1.0, 2.5, 4.0])  # thresholds between levels 2|3 .. 7|8
    levels = np.arange(2, 9)
    rows = []
    for i in range(30):
        arm = "control" if i < 15 else "active"
        b = rng.normal(0, 1.5)
        for day in (0, 1, 2, 4, 7, 10, 14):
            if day > 0 and rng.random() < 0.08:
                continue
            eta = b - 0.12 * day + (-0.9 if (arm == "active" and day > 0) else 0.0)
            cum = special.expit(theta - eta)
            u = rng.random()
            rows.append({"id": f"p{i:02d}", "arm": arm, "day": day, "day_f": f"d{day:02d}",
                         "who": int(levels[np.searchsorted(cum, u)])})
    return pd.DataFrame(rows)


if __name__ == "__main__":
    who_long().to_csv(HERE / "who_long.csv", index=False)
