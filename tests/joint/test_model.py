"""The joint model's log density against an independent computation (SciPy, numerical integration)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from longmod.engines.joint.data import prepare_joint_data
from longmod.engines.joint.model import DEFAULT_PRIORS, build_joint_model
from tests.joint.conftest import KW


@pytest.fixture(scope="module")
def evaluated(trial):
    """Model terms at a random parameter point (value-scale and transformed), with the data."""
    from longmod.engines.bayes.runtime import configure_pytensor

    configure_pytensor()
    m, p = trial
    jd = prepare_joint_data(m, p, **KW, cuts={"death": [9.0], "discharge": [5.0, 12.0]})[0]
    npieces = {c: len(jd.cuts[c]) - 1 for c in jd.causes}
    model = build_joint_model(jd.packed, jd.layout, jd.causes, npieces, (), ("value", "slope"), DEFAULT_PRIORS)
    rng = np.random.default_rng(4)
    th = {"beta": rng.normal(0, 0.5, 4), "re_sd": np.array([0.8, 0.6]), "re_corr": -0.3, "sigma": 0.45,
          "z": rng.normal(size=(jd.n_patients, 2))}
    for k, c in enumerate(jd.causes):
        th[f"log_base_{k}"] = rng.normal(-1.0, 0.5, npieces[c])
        th[f"log_hr_{k}"], th[f"assoc_{k}"], th[f"assoc_slope_{k}"] = rng.normal(0, 0.5, 3)
    point = {"beta": th["beta"], "re_sd_log__": np.log(th["re_sd"]),
             "re_corr_u_logodds__": np.log((1 + th["re_corr"]) / (1 - th["re_corr"])),
             "sigma_log__": np.log(th["sigma"]), "z": th["z"]}
    point.update({k: v for k, v in th.items() if k.startswith(("log_base", "log_hr", "assoc"))})
    from pytensor.compile.mode import Mode

    outs = model.replace_rvs_by_values(list(model.potentials) + [model["re"]])
    # Python linker: compiles in seconds (the C or numba backends take minutes on a busy machine)
    fn = model.compile_fn(outs, inputs=model.value_vars, on_unused_input="ignore",
                          mode=Mode(linker="py", optimizer="fast_compile"))
    vals = fn(point)
    return jd, th, m, p, dict(zip([v.name for v in model.potentials] + ["re"], vals))


def _patient(jd, m, pid):
    g = m[m.patient_id == pid]
    sc = jd.scaling
    return (g.value.to_numpy() - sc.y_center) / sc.y_scale, g.day.to_numpy() / sc.time_scale


def test_marginal_longitudinal_likelihood_equals_scipy_mvn(evaluated):
    jd, th, m, p, vals = evaluated
    b = th["beta"]
    sd, r = th["re_sd"], th["re_corr"]
    G = np.outer(sd, sd) * np.array([[1, r], [r, 1]])
    total = 0.0
    for k, pid in enumerate(jd.ids):
        y, t = _patient(jd, m, pid)
        x = jd.packed[k, jd.layout["arm"]]
        Z = np.column_stack([np.ones_like(t), t])
        mean = Z @ np.array([b[0] + b[2] * x, b[1] + b[3] * x])
        total += stats.multivariate_normal(mean, Z @ G @ Z.T + th["sigma"] ** 2 * np.eye(len(t))).logpdf(y)
    assert vals["longitudinal"] == pytest.approx(total, rel=1e-10)


def test_random_effects_are_the_conditional_posterior_reparametrised(evaluated):
    """re_i = mu_i + C_i z_i with mu_i, C_i C_i' the mean and covariance of b_i | y_i (closed form, NumPy)."""
    jd, th, m, p, vals = evaluated
    b, s2 = th["beta"], th["sigma"] ** 2
    sd, r = th["re_sd"], th["re_corr"]
    G = np.outer(sd, sd) * np.array([[1, r], [r, 1]])
    for k in range(0, jd.n_patients, 7):
        y, t = _patient(jd, m, jd.ids[k])
        x = jd.packed[k, jd.layout["arm"]]
        Z = np.column_stack([np.ones_like(t), t])
        resid = y - Z @ np.array([b[0] + b[2] * x, b[1] + b[3] * x])
        cov = np.linalg.inv(np.linalg.inv(G) + Z.T @ Z / s2)
        mu = cov @ Z.T @ resid / s2
        dev = vals["re"][k] - mu
        # C_i z_i: its covariance over z ~ N(0, I) must be cov, i.e. C_i^{-1} dev = z_i with C_i any root of cov
        L = np.linalg.cholesky(cov)
        # same length under every root: z' z = dev' cov^{-1} dev
        assert dev @ np.linalg.solve(cov, dev) == pytest.approx(th["z"][k] @ th["z"][k], rel=1e-9)
        assert np.linalg.norm(np.linalg.solve(L, dev)) == pytest.approx(np.linalg.norm(th["z"][k]), rel=1e-9)


def test_survival_likelihood_equals_numerical_integration(evaluated):
    jd, th, m, p, vals = evaluated
    sc = jd.scaling
    re = vals["re"]
    b = th["beta"]
    for k, cause in enumerate(jd.causes):
        cuts = np.asarray(jd.cuts[cause]) / sc.time_scale
        lam = th[f"log_base_{k}"]
        total = 0.0
        for i, pid in enumerate(jd.ids):
            row = p.set_index("patient_id").loc[pid]
            x = float(row.arm == "active")
            a_i = b[0] + b[2] * x + re[i, 0]
            s_i = b[1] + b[3] * x + re[i, 1]

            def log_h(t):
                j = np.searchsorted(cuts, t, side="right") - 1
                return (lam[j] + th[f"log_hr_{k}"] * x + th[f"assoc_{k}"] * (a_i + s_i * t)
                        + th[f"assoc_slope_{k}"] * s_i)

            T = row.event_day / sc.time_scale
            pts = [c for c in cuts[1:-1] if c < T]
            H = integrate.quad(lambda t: np.exp(log_h(t)), 0.0, T, points=pts or None, epsabs=1e-13, epsrel=1e-11)[0]
            total += (log_h(T) if row.event == cause else 0.0) - H
        assert vals[f"survival_{k}"] == pytest.approx(total, rel=1e-8), cause
