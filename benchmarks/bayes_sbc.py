"""Simulation-based calibration (SBC; Talts et al. 2018, arXiv:1804.06788) of the LMM and MMRM.

For each replicate: draw the parameters from the model's prior (forward
sampling of longmod's PyMC model with the same priors: for the LMM its latent
form, whose random effects are then drawn too), simulate outcomes on a fixed
small design in NumPy, fit with :func:`fit_bayes_longitudinal` (the default
parametrization: the LMM's random effects integrated out), and record the
rank of the true value among ``L = 99`` thinned posterior draws (rank in
0..99). If the sampler and model are correct the ranks are uniform; a
chi-square test on 10 equal bins is reported per quantity (the caller states
alpha; ``docs/bayes_sbc.md`` uses alpha = 0.01 per quantity).

Run::

    PYTHONPATH=. .venv/bin/python benchmarks/bayes_sbc.py --kind lmm --reps 100
    PYTHONPATH=. .venv/bin/python benchmarks/bayes_sbc.py --kind mmrm --reps 100
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import pandas as pd

VISITS = ("D3", "D7", "D14")
DAYS = (3.0, 7.0, 14.0)


def sbc_design(n_patients: int, seed: int) -> pd.DataFrame:
    """Fixed design: alternating arms, baseline covariate, 20% monotone dropout."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_patients):
        last = 3 if rng.random() > 0.2 else int(rng.integers(1, 3))
        base = float(rng.normal(0.0, 1.0))
        for k in range(last):
            rows.append({"patient_id": f"p{i:03d}", "arm": "uc_msc" if i % 2 else "placebo", "visit": VISITS[k],
                         "day": DAYS[k], "baseline": base, "pf": 0.0})
    return pd.DataFrame(rows)


def _spec(kind: str, sampler: dict[str, Any]):
    from longmod.spec.model import ModelSpec, Treatment

    return ModelSpec(name=f"sbc-{kind}", outcome="pf", fixed="arm * visit + baseline", subject="patient_id",
                     visit="visit", time="day", covariance="us" if kind == "mmrm" else "ris",
                     levels={"visit": list(VISITS)}, engine="pymc", mcid=20.0,
                     priors={"scale": 20.0}, sampler=sampler, treatment=Treatment("arm", "placebo", "uc_msc"))


def _simulate(kind: str, spec: Any, design: pd.DataFrame, rng: np.random.Generator) -> tuple[pd.DataFrame, dict]:
    """Draw parameters from the prior and simulate outcomes (returns data and true values)."""
    import pymc as pm

    from longmod.engines.bayes import longitudinal as lg
    from longmod.engines.bayes.design import prepare
    from longmod.engines.bayes.priors import centre_columns, resolve_priors

    prep = prepare(spec, design, extra=[spec.subject, spec.visit, spec.time])
    p = resolve_priors(spec.priors, prep.columns, prep.treatment_columns, mcid=spec.mcid)
    Xc, means = centre_columns(prep.X, prep.columns)
    subjects, sidx = np.unique(prep.frame[spec.subject].astype(str).to_numpy(), return_inverse=True)
    seed = int(rng.integers(2**31))
    if kind == "lmm":
        t = prep.frame[spec.time].to_numpy(float)
        model = lg._build_lmm(Xc, np.zeros(len(Xc)), sidx, t, len(subjects), prep.columns, p, True)
        names = ["beta_c", "sigma", "re_sd", "re_corr", "z0", "z1"]
        beta_c, sigma, re_sd, rho, z0, z1 = pm.draw([model[v] for v in names], random_seed=seed)
        b0 = re_sd[0] * z0
        b1 = re_sd[1] * (rho * z0 + np.sqrt(1 - rho**2) * z1)
        y = Xc @ beta_c + b0[sidx] + b1[sidx] * t + rng.normal(0.0, sigma, len(Xc))
        truth = {"sigma": float(sigma), "re_sd[1]": float(re_sd[1]), "re_corr": float(rho)}
    else:
        model = lg._build_mmrm([np.zeros((1, len(prep.columns)))], [np.zeros((1, 3))], [((0, 1, 2), None)], 3,
                               prep.columns, p)
        beta_c, sd, corr = pm.draw([model["beta_c"], model["visit_sd"], model["visit_corr"]], random_seed=seed)
        cov = corr * np.outer(sd, sd)
        vpos = {v: i for i, v in enumerate(VISITS)}
        vidx = prep.frame[spec.visit].map(vpos).to_numpy()
        eps = rng.multivariate_normal(np.zeros(3), cov, size=len(subjects))
        y = Xc @ beta_c + eps[sidx, vidx]
        truth = {"visit_sd[1]": float(sd[1]), "visit_corr[0,1]": float(corr[0, 1])}
    beta = beta_c.copy()
    j = prep.columns.index("(Intercept)")
    beta[j] = beta_c[j] - beta_c @ means
    L = lg.contrast_vectors(spec, prep, list(VISITS))
    truth["contrast_D7"] = float(L[1] @ beta)
    data = prep.frame.copy()
    data[spec.outcome] = y
    return data, truth


def _posterior(kind: str, res: Any) -> dict[str, np.ndarray]:
    post = res.extras["inference_data"].posterior
    L = res.extras["contrast_vectors"].loc["D7"].to_numpy()
    out = {"contrast_D7": (post["beta"].values @ L).ravel()}
    if kind == "lmm":
        out["sigma"] = post["sigma"].values.ravel()
        out["re_sd[1]"] = post["re_sd"].values[..., 1].ravel()
        out["re_corr"] = post["re_corr"].values.ravel()
    else:
        out["visit_sd[1]"] = post["visit_sd"].values[..., 1].ravel()
        out["visit_corr[0,1]"] = post["visit_corr"].values[..., 0, 1].ravel()
    return out


def run_sbc(kind: str = "lmm", reps: int = 100, n_patients: int = 30, seed: int = 2024,
            n_thin: int = 99) -> pd.DataFrame:
    """Run SBC; one row per (replicate, quantity).

    Returns
    -------
    pandas.DataFrame
        ``rep``, ``quantity``, ``truth``, ``rank`` (0..n_thin), ``r_hat``,
        ``divergences``, ``diagnostics_ok`` (of the D7 contrast).
    """
    from longmod.engines.bayes.longitudinal import fit_bayes_longitudinal

    rng = np.random.default_rng(seed)
    design = sbc_design(n_patients, seed)
    spec = _spec(kind, {"chains": 2, "draws": 500, "tune": 500})
    rows = []
    for r in range(reps):
        data, truth = _simulate(kind, spec, design, rng)
        res = fit_bayes_longitudinal(spec, data, sampler={"seed": int(rng.integers(2**31))})
        post = _posterior(kind, res)
        d7 = res.effects.set_index("visit").loc["D7"]
        for q, true in truth.items():
            draws = post[q]
            thin = draws[np.linspace(0, len(draws) - 1, n_thin).astype(int)]
            rows.append({"rep": r, "quantity": q, "truth": true, "rank": int((thin < true).sum()),
                         "r_hat": float(d7["r_hat"]), "divergences": float(d7["divergences"]),
                         "diagnostics_ok": bool(d7["diagnostics_ok"])})
    return pd.DataFrame(rows)


def uniformity(ranks: pd.DataFrame, n_thin: int = 99, bins: int = 10) -> pd.DataFrame:
    """Chi-square test of uniform ranks per quantity (``bins`` equal bins of 0..n_thin)."""
    from scipy import stats

    out = []
    for q, g in ranks.groupby("quantity", sort=False):
        counts = np.bincount(np.minimum(g["rank"].to_numpy() * bins // (n_thin + 1), bins - 1), minlength=bins)
        chi2, p = stats.chisquare(counts)
        out.append({"quantity": q, "n": len(g), "chi2": float(chi2), "df": bins - 1, "p_value": float(p),
                    "counts": " ".join(map(str, counts))})
    return pd.DataFrame(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="SBC of the Bayesian LMM/MMRM")
    ap.add_argument("--kind", choices=("lmm", "mmrm"), default="lmm")
    ap.add_argument("--reps", type=int, default=100)
    ap.add_argument("--patients", type=int, default=30)
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--out", help="CSV of ranks")
    a = ap.parse_args(argv)
    ranks = run_sbc(a.kind, a.reps, a.patients, a.seed)
    if a.out:
        ranks.to_csv(a.out, index=False)
    print(uniformity(ranks).to_string(index=False))
    print(f"replicates with flagged diagnostics: {int((~ranks.groupby('rep')['diagnostics_ok'].first()).sum())}"
          f" / {a.reps}; total divergences: {int(ranks.groupby('rep')['divergences'].first().sum())}")


if __name__ == "__main__":
    main()
