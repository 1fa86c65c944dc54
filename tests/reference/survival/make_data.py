"""Write the simulated time-to-event data sets that survival.R and the tests read.

Seeded: the same bytes on every run (``python tests/reference/survival/make_data.py``).

* ``two_arm.csv``: 40 patients (20/20), integer days 1-28 with ties, event codes
  0 censored / 1 event of interest / 2 competing event (death), a numeric
  covariate ``age`` and a 4-level ``site`` for stratified analyses;
* ``matched_zero.csv``: 8 matched sets of 1 treated + 3 controls followed to day 60,
  no treated death (an infinite conditional estimate), 5 control deaths by day 28
  and 2 more by day 60;
* ``matched.csv``: 10 matched sets of 1:3 with deaths in both arms.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def two_arm(seed: int = 20241) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 40
    arm = np.where(np.arange(n) < 20, "control", "active")
    rate1 = np.where(arm == "active", 0.09, 0.05)
    t1 = rng.exponential(1 / rate1)
    t2 = rng.exponential(1 / 0.02, n)
    cens = rng.uniform(5, 40, n)
    t = np.minimum.reduce([t1, t2, cens, np.full(n, 28.0)])
    code = np.select([t == t1, t == t2], [1, 2], 0)
    day = np.maximum(np.ceil(t), 1).astype(int)
    return pd.DataFrame({"id": [f"p{i:02d}" for i in range(n)], "arm": arm, "time": day, "code": code,
                         "event1": (code == 1).astype(int), "age": np.round(rng.normal(60, 10, n), 0),
                         "site": rng.choice(["s1", "s2", "s3", "s4"], n)})


def matched(n_sets: int, control_deaths: list[int], treated_deaths: list[int], seed: int) -> pd.DataFrame:
    """1:3 sets; the listed sets get a death among controls (one each) / the treated patient."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_sets):
        for j in range(4):
            treated = j == 0
            dies = (s in treated_deaths) if treated else (j == 1 and s in control_deaths) or (j == 2 and s in control_deaths[::3])
            time = int(rng.integers(3, 58)) if dies else 60
            rows.append({"id": f"s{s}_{j}", "set": f"m{s:02d}", "arm": "msc" if treated else "control",
                         "time": time, "dead": int(dies)})
    d = pd.DataFrame(rows)
    d["dead28"] = ((d["dead"] == 1) & (d["time"] <= 28)).astype(int)
    return d


def matched_zero(seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    death_days = {1: 6, 2: 11, 3: 15, 4: 22, 5: 27, 6: 41, 7: 53}  # 5 by day 28, 7 by day 60
    sets_of = {1: 0, 2: 1, 3: 2, 4: 3, 5: 3, 6: 5, 7: 6}
    k = {s: 0 for s in range(8)}
    for s in range(8):
        for j in range(4):
            rows.append({"id": f"z{s}_{j}", "set": f"g{s}", "arm": "msc" if j == 0 else "control", "time": 60, "dead": 0})
    d = pd.DataFrame(rows)
    for who, day in death_days.items():
        s = sets_of[who]
        k[s] += 1
        i = d.index[(d["set"] == f"g{s}") & (d["arm"] == "control")][k[s] - 1]
        d.loc[i, ["time", "dead"]] = [day, 1]
    d["dead28"] = ((d["dead"] == 1) & (d["time"] <= 28)).astype(int)
    d = d.sample(frac=1.0, random_state=int(rng.integers(1000))).reset_index(drop=True)  # row order carries nothing
    return d


if __name__ == "__main__":
    two_arm().to_csv(HERE / "two_arm.csv", index=False)
    matched_zero().to_csv(HERE / "matched_zero.csv", index=False)
    matched(10, control_deaths=[0, 1, 2, 4, 6, 7, 9], treated_deaths=[1, 3, 5], seed=11).to_csv(HERE / "matched.csv", index=False)
