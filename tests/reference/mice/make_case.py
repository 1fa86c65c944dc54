"""Write the shared multiple-imputation case for the R ``mice`` references (seeded; SYNTHETIC data).

* ``mi_case_incomplete.csv``: 120 patients (``pid``, ``group`` ctl/trt, ``base``, ``stratum``) and a
  change from baseline at three visits ``V1``-``V3`` with monotone MAR dropout (a low or high V1
  makes a later visit more likely to be missing).
* ``mi_case_completed.csv``: 20 completed datasets (column ``.imp`` = 1..20) made by longmod:
  approximate Bayesian bootstrap of the MMRM ``group * visit + base * visit + stratum * visit``
  (ML by ECM), then a draw of every missing visit from its conditional normal distribution.

Run from the repository root, then the R script beside it::

    python tests/reference/mice/make_case.py
    Rscript tests/reference/mice/pool_mice.R

Same bytes on every run (fixed seeds, 17 significant digits).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
VISITS = ("V1", "V2", "V3")
N, M, SEED = 120, 20, 20261201
FIXED = "group * visit + base * visit + stratum * visit"
COVARIATES = ("base", "stratum")


def incomplete(seed: int = SEED) -> pd.DataFrame:
    """One row per patient, V1 always observed, V2/V3 missing after dropout."""
    rng = np.random.default_rng(seed)
    group = np.where(np.arange(N) % 2 == 0, "ctl", "trt")
    base = rng.normal(120.0, 30.0, N).round(1)
    stratum = rng.integers(0, 2, N)
    sd = np.array([20.0, 28.0, 35.0])
    corr = np.array([[1.0, 0.6, 0.45], [0.6, 1.0, 0.7], [0.45, 0.7, 1.0]])
    eps = rng.multivariate_normal(np.zeros(3), corr * np.outer(sd, sd), size=N)
    mean = (np.array([5.0, 15.0, 30.0]) + (group == "trt")[:, None] * np.array([3.0, 8.0, 15.0])
            + 0.2 * (base[:, None] - 120) - 6 * stratum[:, None])
    y = (mean + eps).round(2)
    z = (y[:, 0] - y[:, 0].mean()) / y[:, 0].std()
    p_drop = 0.12 + 0.25 * (np.abs(z) > 1)
    drop_at = np.full(N, 3)
    u = rng.random((N, 2))
    drop_at[u[:, 1] < p_drop] = 2
    drop_at[u[:, 0] < p_drop / 2] = 1
    for k in (1, 2):
        y[drop_at <= k, k] = np.nan
    out = pd.DataFrame({"pid": [f"p{i:03d}" for i in range(N)], "group": group, "base": base, "stratum": stratum})
    for k, v in enumerate(VISITS):
        out[v] = y[:, k]
    return out


def wide(frame: pd.DataFrame):
    """The case as longmod WideData (MMRM with visit-specific covariate effects, as mice's FCS)."""
    from longmod.estimands.wide import wide_data
    from longmod.spec.model import ModelSpec, Treatment

    spec = ModelSpec(name="mice_case", outcome="chg", fixed=FIXED, subject="pid", visit="visit",
                     covariance="us", method="ml", df="residual", treatment=Treatment("group", "ctl", "trt"))
    long = frame.melt(id_vars=["pid"], value_vars=list(VISITS), var_name="visit", value_name="chg").dropna()
    return wide_data(long, frame[["pid", "group", *COVARIATES]], spec, visits=VISITS)


def completed(frame: pd.DataFrame, m: int = M, seed: int = SEED) -> pd.DataFrame:
    """``m`` completed datasets stacked, ``.imp`` = 1..m (longmod's MAR MI)."""
    from longmod.estimands.imputation_params import bootstrap_params, em_fitter
    from longmod.estimands.mi import complete_datasets
    from longmod.estimands.reference_based import apply_strategy

    w, methods = apply_strategy(wide(frame), "mar")
    draws = bootstrap_params(w, em_fitter(), m, seed=seed)
    done = complete_datasets(w, draws, methods, seed=seed + 1)
    parts = []
    for j in range(m):
        d = frame[["pid", "group", *COVARIATES]].copy()
        d.insert(0, ".imp", j + 1)
        for k, v in enumerate(VISITS):
            d[v] = done[j, :, k]
        parts.append(d)
    return pd.concat(parts, ignore_index=True)


def main() -> None:
    frame = incomplete()
    frame.to_csv(HERE / "mi_case_incomplete.csv", index=False, float_format="%.17g")
    completed(frame).to_csv(HERE / "mi_case_completed.csv", index=False, float_format="%.17g")
    print("wrote", HERE / "mi_case_incomplete.csv", "and", HERE / "mi_case_completed.csv")


if __name__ == "__main__":
    main()
