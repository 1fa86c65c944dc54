"""Write worst_rank_case.csv: a seeded SYNTHETIC two-arm trial for the worst-rank references.

60 patients per arm; deaths by day 28 (integer days, so some tie) in ~25% (fewer in the active
arm); survivors have an integer-rounded outcome (ties too); some deaths after the horizon (day
28), who then rank as survivors by their outcome.

    python tests/reference/worst_rank/make_case.py   # then: Rscript tests/reference/worst_rank/worst_rank.R
"""

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
HORIZON = 28


def case(seed: int = 20261202) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 60
    arm = np.repeat(["ctl", "act"], n)
    p_death = np.where(arm == "act", 0.2, 0.3)
    died = rng.random(2 * n) < p_death
    death = np.where(died, rng.integers(1, 29, 2 * n), np.nan)
    late = (~died) & (rng.random(2 * n) < 0.05)
    death[late] = rng.integers(29, 60, late.sum())
    y = np.round(rng.normal(np.where(arm == "act", 165.0, 150.0), 40.0), 0)
    y[died] = np.nan
    return pd.DataFrame({"pid": [f"w{i:03d}" for i in range(2 * n)], "arm": arm, "death_day": death, "outcome": y})


if __name__ == "__main__":
    case().to_csv(HERE / "worst_rank_case.csv", index=False)
    print("wrote", HERE / "worst_rank_case.csv")
