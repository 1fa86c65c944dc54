"""Write irregular_lmm.csv: a small SYNTHETIC trial measured at irregular times (seeded, no real data).

120 patients (60 per arm), each measured 2-9 times at continuous times between day 0 and day 28
(three decimals; no two patients share a time), random intercept + slope on time, a baseline
covariate. It is the input of irregular_lmer.R (lme4 / lmerTest / pbkrtest references for the
native core's per-subject random-effects path).

    python tests/reference/r/make_irregular_lmm.py   # then: Rscript tests/reference/r/irregular_lmer.R
"""

from pathlib import Path

import numpy as np
import pandas as pd


def simulate(seed: int = 20261201) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 120
    arm = np.repeat(["ctl", "act"], n // 2)
    base = np.round(rng.normal(50.0, 8.0, n), 2)
    b0 = rng.normal(0.0, 4.0, n)
    b1 = rng.normal(0.0, 0.25, n)
    rows = []
    for i in range(n):
        m = int(rng.integers(2, 10))
        times = np.sort(np.round(rng.uniform(0.0, 28.0, m), 3))
        for t in times:
            y = 10 + 0.5 * base[i] + b0[i] + (0.8 + b1[i] + (arm[i] == "act") * 0.3) * t + rng.normal(0.0, 3.0)
            rows.append({"pid": f"P{i + 1:03d}", "arm": arm[i], "base": base[i], "time": float(t), "y": round(float(y), 4)})
    return pd.DataFrame(rows)


if __name__ == "__main__":
    out = Path(__file__).with_name("irregular_lmm.csv")
    simulate().to_csv(out, index=False)
    print("wrote", out)
