"""Type I error of the bundled null scenario's analyses at both of its sample sizes, with many trials.

Usage::

    python benchmarks/type_one_error.py --trials 10000 --mmrm-trials 3000 --seed 2026

Runs ``models/scenarios/stroma_cov2_null.toml`` (derived from the SYNTHETIC STROMA-CoV-2
reconstruction; 20 and 45 patients per arm, no treatment effect) with the ANCOVA and the worst-rank
test (``--trials`` trials per cell, in this process) and the MMRM (``--mmrm-trials``, on a Dask
LocalCluster of two workers), and prints the rejection rate, its Monte Carlo SE and how many
MCSEs it lies from the nominal 0.05.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from longmod.resources import models_dir
from longmod.simulate.run import run_simulation
from longmod.simulate.scenario import load_scenario


def _cells(sc, names, trials, seed, **kw) -> pd.DataFrame:
    sc = sc.replace(analyses=tuple(a for a in sc.analyses if a.name in names))
    return run_simulation(sc, trials=trials, seed=seed, chunk_size=100, truth_patients=2000, **kw).operating_characteristics


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=10000)
    ap.add_argument("--mmrm-trials", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=2026)
    a = ap.parse_args()
    sc = load_scenario(models_dir() / "scenarios" / "stroma_cov2_null.toml")
    oc = pd.concat([_cells(sc, ("ancova", "worst_rank"), a.trials, a.seed, scheduler="serial"),
                    _cells(sc, ("mmrm",), a.mmrm_trials, a.seed + 1, workers=2)], ignore_index=True)
    oc["mcse_from_0.05"] = (oc["rejection_rate"] - 0.05) / np.sqrt(0.05 * 0.95 / oc["trials"])
    cols = ["analysis", "n_per_arm", "trials", "failed", "rejection_rate", "rejection_rate_mcse", "mcse_from_0.05"]
    print(oc[cols].round(4).to_string(index=False))


if __name__ == "__main__":
    main()
