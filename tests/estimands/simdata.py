"""Seeded small trials for the estimand tests (same bytes on every run)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from longmod.spec.model import ModelSpec, Treatment

VISITS = ("V1", "V2", "V3")
DAYS = (1.0, 3.0, 7.0)
SD = np.array([20.0, 28.0, 35.0])
CORR = np.array([[1.0, 0.6, 0.45], [0.6, 1.0, 0.7], [0.45, 0.7, 1.0]])
#: mean change per visit, control arm; the active arm adds EFFECT
CONTROL_MEAN = np.array([5.0, 15.0, 30.0])
EFFECT = np.array([3.0, 8.0, 15.0])


def simulate(n: int = 80, seed: int = 1, *, arms=("ctl", "trt"), names=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(patients, long): MVN change from baseline at three visits; deaths and discharges stop the series.

    ``names`` renames the columns: keys ``id``, ``arm``, ``base``, ``stratum``, ``ice_day``, ``ice``.
    """
    nm = {"id": "pid", "arm": "group", "base": "base", "stratum": "stratum", "ice_day": "event_day",
          "ice": "event", **(names or {})}
    rng = np.random.default_rng(seed)
    arm = np.where(np.arange(n) % 2 == 0, arms[0], arms[1])
    base = rng.normal(120.0, 30.0, n).round(1)
    strat = rng.integers(0, 2, n)
    cov = CORR * np.outer(SD, SD)
    eps = rng.multivariate_normal(np.zeros(3), cov, size=n)
    mean = CONTROL_MEAN + (arm == arms[1])[:, None] * EFFECT + 0.2 * (base[:, None] - 120) - 6 * strat[:, None]
    y = (mean + eps).round(2)
    # events: deaths are more likely with a low V1 value, discharges with a high one (MAR-like)
    u = rng.random(n)
    event = np.full(n, "", dtype=object)
    eday = np.full(n, np.nan)
    low, high = y[:, 0] < np.quantile(y[:, 0], 0.2), y[:, 0] > np.quantile(y[:, 0], 0.7)
    die = low & (u < 0.6)
    dis = high & (u < 0.5)
    event[die] = "death"
    eday[die] = np.where(rng.random(die.sum()) < 0.5, 2.0, 5.0)
    event[dis] = "discharge"
    eday[dis] = np.where(rng.random(dis.sum()) < 0.5, 2.0, 5.0)
    pts = pd.DataFrame({nm["id"]: [f"p{i:03d}" for i in range(n)], nm["arm"]: arm, nm["base"]: base,
                        nm["stratum"]: strat, nm["ice_day"]: eday, nm["ice"]: event})
    rows = []
    for i in range(n):
        for k, (v, d) in enumerate(zip(VISITS, DAYS)):
            if np.isfinite(eday[i]) and d >= eday[i]:
                break
            rows.append({nm["id"]: pts[nm["id"]][i], "visit": v, "day": d, "chg": y[i, k]})
    return pts, pd.DataFrame(rows)


def spec(names=None, arms=("ctl", "trt")) -> ModelSpec:
    nm = {"id": "pid", "arm": "group", "base": "base", "stratum": "stratum", **(names or {})}
    return ModelSpec(name="imp", outcome="chg", fixed=f"{nm['arm']} * visit + {nm['base']} + {nm['stratum']}",
                     subject=nm["id"], visit="visit", time="day", covariance="us", method="ml", df="residual",
                     treatment=Treatment(nm["arm"], arms[0], arms[1]))
