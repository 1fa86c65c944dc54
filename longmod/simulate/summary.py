"""Operating characteristics of a simulation study, with Monte Carlo standard errors.

Each analysis is compared with the true value of the estimand it targets
(``truth``), computed once per cell from one very large simulated trial:

* ``hypothetical``: difference in mean change at the endpoint had nobody died
  or left the ICU (the trajectories before any event);
* ``composite``: difference in mean composite change (the scenario's death and
  discharge rules); the ANCOVA is consistent for it under randomisation;
* ``probabilistic_index``: P(active better) + P(tie) / 2 of the worst-rank
  composite.

The large trial simulates every patient under both arms from the same random
numbers (potential outcomes), so each truth is exact under the null (0, or
0.5 for the probabilistic index) and has a small Monte Carlo error otherwise.

Monte Carlo SEs follow Morris, White and Crowther (Stat Med 2019;38:2074,
Table 6): rejection rate and coverage ``sqrt(p (1 - p) / n)``; bias
``sd(estimate) / sqrt(n)``; RMSE by the delta method on the mean squared
error; mean CI width ``sd(width) / sqrt(n)``. Trials whose fit failed or did not
converge are left out of every summary and counted in ``failed``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Columns of the operating-characteristics table.
OC_COLUMNS = ("analysis", "kind", "estimand", "n_per_arm", "effect", "truth", "trials", "failed", "rejection_rate",
              "rejection_rate_mcse", "bias", "bias_mcse", "rmse", "rmse_mcse", "coverage", "coverage_mcse",
              "mean_ci_width", "mean_ci_width_mcse", "mean_estimate")


def true_values(scenario, *, seed: int = 1, patients: int = 200_000) -> pd.DataFrame:
    """True value of each estimand in each cell, from one trial of ``patients`` per arm.

    Returns
    -------
    pandas.DataFrame
        ``cell, n_per_arm, effect, estimand, truth, truth_mcse`` (the Monte
        Carlo SE of the large-trial value).

    Examples
    --------
    >>> from longmod.resources import models_dir
    >>> from longmod.simulate.scenario import load_scenario
    >>> s = load_scenario(models_dir() / "scenarios" / "stroma_cov2_null.toml")
    >>> t = true_values(s, patients=20000)
    >>> sorted(t["estimand"].unique())
    ['composite', 'hypothetical', 'probabilistic_index']
    """
    from scipy import stats

    from longmod.simulate.analyses import worst_rank_scores
    from longmod.simulate.generate import composite_endpoint, simulate_patients

    rows = []
    k = int(np.searchsorted(scenario.post_days, scenario.endpoint_day))
    for cell, (n, effect) in enumerate(scenario.cells()):
        ss = np.random.SeedSequence(seed, spawn_key=(10**6, cell))
        arms = [simulate_patients(scenario, np.full(patients, a), effect, np.random.default_rng(ss)) for a in (1, 0)]
        hyp = [t.complete[:, k] - t.baseline for t in arms]
        comp = [composite_endpoint(t, scenario.estimand) - t.baseline for t in arms]
        for name, (x, y) in (("hypothetical", hyp), ("composite", comp)):
            d = x - y  # paired potential outcomes: exactly 0 under the null
            rows.append({"cell": cell, "n_per_arm": n, "effect": effect, "estimand": name, "truth": float(np.nanmean(d)),
                         "truth_mcse": float(np.nanstd(d, ddof=1) / np.sqrt(np.sum(~np.isnan(d))))})
        x, y = (worst_rank_scores(t, scenario) for t in arms)
        x, y = x[~np.isnan(x)], y[~np.isnan(y)]
        u = stats.mannwhitneyu(x, y, method="asymptotic").statistic
        rows.append({"cell": cell, "n_per_arm": n, "effect": effect, "estimand": "probabilistic_index",
                     "truth": float(u) / (len(x) * len(y)), "truth_mcse": float(np.sqrt(1 / (12 * len(x)) + 1 / (12 * len(y))))})
    return pd.DataFrame(rows)


def _rate(x: np.ndarray) -> tuple[float, float]:
    p = float(np.mean(x))
    return p, float(np.sqrt(p * (1 - p) / len(x)))


def operating_characteristics(trials: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """One row per analysis and cell: rejection rate, bias, RMSE, coverage, CI width, each with its MCSE.

    Parameters
    ----------
    trials : DataFrame
        Per-trial results (:data:`longmod.simulate.run.TRIAL_COLUMNS`).
    truth : DataFrame
        :func:`true_values`.

    Returns
    -------
    pandas.DataFrame
        :data:`OC_COLUMNS`.

    Examples
    --------
    >>> tr = pd.DataFrame({"analysis": "a", "kind": "ancova", "estimand": "composite", "cell": 0, "n_per_arm": 10,
    ...                    "effect": 0.0, "trial": [0, 1, 2, 3], "estimate": [1., -1., 2., 0.], "std_error": 1.,
    ...                    "conf_low": [-1., -3., 0.5, -2.], "conf_high": [3., 1., 3.5, 2.], "p_value": [.3, .3, .01, 1.],
    ...                    "reject": [False, False, True, False], "converged": True})
    >>> truth = pd.DataFrame({"cell": [0], "estimand": ["composite"], "truth": [0.0]})
    >>> oc = operating_characteristics(tr, truth)
    >>> oc[["trials", "rejection_rate", "bias", "coverage", "mean_ci_width"]].iloc[0].tolist()
    [4, 0.25, 0.5, 0.75, 4.0]
    """
    tv = truth.set_index(["cell", "estimand"])["truth"]
    rows = []
    for (name, cell), g in trials.groupby(["analysis", "cell"], sort=False):
        ok = g[g["converged"].astype(bool) & g["estimate"].notna()]
        est_name = g["estimand"].iloc[0]
        t = float(tv.loc[(cell, est_name)])
        n = len(ok)
        row = {"analysis": name, "kind": g["kind"].iloc[0], "estimand": est_name, "n_per_arm": int(g["n_per_arm"].iloc[0]),
               "effect": float(g["effect"].iloc[0]), "truth": t, "trials": n, "failed": int(len(g) - n)}
        if n == 0:
            rows.append(row)
            continue
        e = ok["estimate"].to_numpy(float)
        err = e - t
        mse = float(np.mean(err**2))
        width = (ok["conf_high"] - ok["conf_low"]).to_numpy(float)
        covered = ((ok["conf_low"] <= t) & (t <= ok["conf_high"])).to_numpy()
        row["rejection_rate"], row["rejection_rate_mcse"] = _rate(ok["reject"].astype(bool).to_numpy())
        row["coverage"], row["coverage_mcse"] = _rate(covered)
        row["bias"], row["bias_mcse"] = float(err.mean()), float(e.std(ddof=1) / np.sqrt(n)) if n > 1 else np.nan
        row["rmse"] = float(np.sqrt(mse))
        row["rmse_mcse"] = float(np.std(err**2, ddof=1) / np.sqrt(n) / (2 * np.sqrt(mse))) if n > 1 and mse > 0 else np.nan
        row["mean_ci_width"] = float(width.mean())
        row["mean_ci_width_mcse"] = float(width.std(ddof=1) / np.sqrt(n)) if n > 1 else np.nan
        row["mean_estimate"] = float(e.mean())
        rows.append(row)
    return pd.DataFrame(rows, columns=list(OC_COLUMNS))
