"""Write the bambi reference for longmod's Bayesian random-intercept LMM (seeded; SYNTHETIC data).

Why a random-intercept model: bambi 0.17 cannot correlate a random intercept
and slope (no LKJ prior for group-specific effects; bambinos/bambi#702, its
LKJ code is commented out), so longmod's ``ris`` model has no identical bambi
counterpart. The random-intercept LMM (``covariance = "ri"``) is written
identically by both: same centred fixed-effects design with the intercept
prior on the centred intercept, Normal priors per coefficient, HalfNormal
priors on the residual and random-intercept SDs, non-centred random
intercept.

The priors are deliberately *informative* (treatment N(0, 15^2) mmHg, baseline
slope N(0.5, 0.1^2), residual SD HalfNormal(40), random-intercept SD
HalfNormal(30)) so that they move the posterior away from the likelihood: the
script records that shift (posterior mean minus the REML estimate of
statsmodels MixedLM, in posterior SDs). A mismatch of priors between the two
implementations would therefore show up as a disagreement, which weakly
informative priors would hide.

Writes, next to this script:

* ``ri_data.csv``   the simulated long data (60 patients, visits D3/D7/D14,
  ~15% monotone dropout);
* ``ri_bambi.json`` the model spec (single source for the test), bambi's
  posterior mean, SD, Monte Carlo SEs of mean and SD, bulk ESS and R-hat per
  quantity, the prior shift, versions and the command.

Run from the repository root (about 1-3 min on 2 cores)::

    .venv/bin/python tests/reference/bambi/make_ri_reference.py

The test is ``tests/bayes/test_bayes_vs_bambi.py``.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
SEED = 20261122
VISITS = ("D3", "D7", "D14")
DAYS = (3.0, 7.0, 14.0)
#: Everything the test needs to rebuild the same longmod ModelSpec.
SPEC = {
    "name": "bambi-ri", "outcome": "pf", "fixed": "arm * visit + baseline", "subject": "patient_id",
    "visit": "visit", "time": "day", "covariance": "ri", "engine": "pymc", "mcid": 20.0,
    "levels": {"visit": list(VISITS)},
    "treatment": {"variable": "arm", "reference": "placebo", "active": "uc_msc"},
    "priors": {
        "intercept": {"mu": 150.0, "sigma": 100.0},
        "treatment": {"mu": 0.0, "sigma": 15.0},
        "coefficients": {"mu": 0.0, "sigma": 50.0},
        "terms": {"baseline": {"mu": 0.5, "sigma": 0.1}},
        "sigma": {"sigma": 40.0},
        "random_intercept_sd": {"sigma": 30.0},
    },
}
BAMBI_SAMPLER = {"draws": 2500, "tune": 1000, "chains": 4, "cores": 2, "random_seed": SEED, "target_accept": 0.9}


def simulate(n: int = 60, seed: int = SEED) -> pd.DataFrame:
    """Long data: random intercept SD 35, residual SD 30, treatment effect 5/20/30 mmHg at D3/D7/D14."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        arm = "uc_msc" if i % 2 else "placebo"
        base = round(float(rng.normal(120.0, 40.0)), 3)
        b0 = rng.normal(0.0, 35.0)
        last = 3 if rng.random() > 0.15 else int(rng.integers(1, 3))
        for k in range(last):
            eff = (5.0, 20.0, 30.0)[k] if arm == "uc_msc" else 0.0
            y = 130.0 + 5.0 * DAYS[k] + 0.5 * (base - 120.0) + eff + b0 + rng.normal(0.0, 30.0)
            rows.append({"patient_id": f"p{i:03d}", "arm": arm, "visit": VISITS[k], "day": DAYS[k],
                         "baseline": base, "pf": round(float(y), 3)})
    return pd.DataFrame(rows)


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_spec(spec: dict | None = None):
    """longmod ModelSpec of the reference model (from :data:`SPEC` or the JSON's copy)."""
    from longmod.spec.model import ModelSpec, Treatment

    d = dict(spec or SPEC)
    d["treatment"] = Treatment(**d["treatment"])
    return ModelSpec(**d)


def quantity_draws(beta: np.ndarray, columns: list[str], L: np.ndarray, extra: dict[str, np.ndarray]) -> dict:
    """(chain, draw) arrays per compared quantity: fixed effects, contrasts per visit, SDs."""
    out = {f"beta[{c}]": beta[..., j] for j, c in enumerate(columns)}
    for v, lv in zip(VISITS, L):
        out[f"contrast[{v}]"] = beta @ lv
    out.update(extra)
    return out


def mcse_sd(x: np.ndarray) -> float:
    """Monte Carlo SE of the posterior SD of ``x`` (chain, draw).

    Delta method on the variance: ``z = (x - mean)^2``, ``mcse(var) = sd(z) /
    sqrt(ess_mean(z))``, ``mcse(sd) = mcse(var) / (2 sd)``. (ArviZ 0.23's
    ``mcse(method="sd")`` fails with NumPy 2.4: ``float()`` of a 1-element array.)
    """
    import arviz as az

    z = (x - x.mean()) ** 2
    return float(z.std(ddof=1) / np.sqrt(az.ess(z, method="mean")) / (2.0 * x.std(ddof=1)))


def summarise(draws: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Posterior mean, SD, MC SE of mean (ArviZ) and of SD (:func:`mcse_sd`), bulk ESS, R-hat per quantity."""
    import arviz as az

    out = {}
    for k, x in draws.items():
        x = np.asarray(x, dtype=float)
        out[k] = {"mean": float(x.mean()), "sd": float(x.std(ddof=1)),
                  "mcse_mean": float(np.ravel(az.mcse(x, method="mean"))[0]), "mcse_sd": mcse_sd(x),
                  "ess_bulk": float(az.ess(x, method="bulk")), "r_hat": float(az.rhat(x))}
    return out


def main() -> None:
    import bambi as bmb
    import pymc as pm
    import statsmodels.formula.api as smf

    from longmod.engines.bayes import runtime
    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tools"))
    from bambi_bridge import bambi_fixed_effects, bambi_model
    from longmod.engines.bayes.design import prepare
    from longmod.engines.bayes.longitudinal import contrast_vectors

    rt = runtime.configure_pytensor()
    data = simulate()
    csv = HERE / "ri_data.csv"
    data.to_csv(csv, index=False)
    spec = make_spec()
    model, info = bambi_model(spec, data)
    t0 = time.perf_counter()
    idata = model.fit(**BAMBI_SAMPLER, progressbar=False)
    seconds = time.perf_counter() - t0
    prep = prepare(spec, data, extra=[spec.subject, spec.visit, spec.time])
    L = contrast_vectors(spec, prep, list(VISITS))
    beta = bambi_fixed_effects(idata, info["column_terms"])
    post = idata.posterior
    draws = quantity_draws(beta, info["columns"], L, {
        "sigma": post["sigma"].values, "re_sd": post[f"1|{spec.subject}_sigma"].values})
    summary = summarise(draws)
    # How far the priors move the posterior from the likelihood (REML, statsmodels).
    reml = smf.mixedlm("pf ~ arm * C(visit, levels=['D3', 'D7', 'D14']) + baseline", data,
                       groups="patient_id").fit(reml=True)
    vis = "C(visit, levels=['D3', 'D7', 'D14'])[T."
    fe = {k.replace("arm[T.uc_msc]", "armuc_msc").replace(vis, "visit").replace("]", "")
          .replace("Intercept", "(Intercept)"): v for k, v in reml.fe_params.items()}
    b_reml = np.array([fe[c] for c in info["columns"]])
    shift = {f"contrast[{v}]": (summary[f"contrast[{v}]"]["mean"] - float(lv @ b_reml)) / summary[f"contrast[{v}]"]["sd"]
             for v, lv in zip(VISITS, L)}
    shift["beta[baseline]"] = ((summary["beta[baseline]"]["mean"] - fe["baseline"]) / summary["beta[baseline]"]["sd"])
    out = {
        "description": "bambi posterior of longmod's random-intercept LMM with identical priors (SYNTHETIC data)",
        "command": ".venv/bin/python tests/reference/bambi/make_ri_reference.py",
        "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": platform.platform(), "load_average": list(np.round(np.array(__import__("os").getloadavg()), 2)),
        "versions": {"bambi": bmb.__version__, "pymc": pm.__version__, **{k: v for k, v in runtime.versions().items()
                                                                          if k in ("arviz", "numpy", "pytensor")}},
        "pytensor_blas": rt["blas"],
        "data": {"file": csv.name, "sha256": file_sha256(csv), "seed": SEED, "n_patients": int(data.patient_id.nunique()),
                 "n_obs": len(data)},
        "spec": SPEC, "bambi_formula": info["formula"], "bambi_term_priors": info["term_priors"],
        "bambi_sampler": {**BAMBI_SAMPLER, "method": "bambi Model.fit() defaults (PyMC NUTS)"},
        "bambi_seconds": seconds,
        "divergences": int(idata.sample_stats["diverging"].values.sum()),
        "columns": info["columns"],
        "prior_shift_in_posterior_sd": shift,
        "posterior": summary,
    }
    (HERE / "ri_bambi.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({k: out[k] for k in ("bambi_seconds", "divergences", "prior_shift_in_posterior_sd")}, indent=2))


if __name__ == "__main__":
    main()
