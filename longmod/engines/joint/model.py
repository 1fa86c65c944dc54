r"""The joint longitudinal-survival model as a PyMC graph (shared random effects).

In standardised units (:mod:`longmod.engines.joint.data`), patient ``i`` with
arm indicator ``x_i`` (1 = active) and centred covariates ``w_i`` has the
underlying trajectory

.. math::

    m_i(t) = a_i + s_i t, \qquad
    (a_i, s_i) = (\beta_0 + \beta_a x_i + w_i'\beta_w + b_{0i},\ \beta_1 + \beta_s x_i + b_{1i}),
    \qquad b_i \sim N(0, G),

measured as ``y_ij = m_i(t_ij) + e_ij``, ``e ~ N(0, sigma^2)``, and, for each
cause ``k`` (death, ICU discharge, ...), the cause-specific hazard

.. math::

    h_{ik}(t) = \exp\{\lambda_{kj(t)} + \gamma_k x_i + w_i'\eta_k + \alpha_k m_i(t) + \alpha^{s}_k s_i\}

with a piecewise-constant baseline (``lambda_kj`` on piece ``j``), a current-value
association ``alpha_k`` and, optionally, a slope association ``alpha^s_k``.
Because ``m_i`` is linear in ``t`` the cumulative hazard has a closed form on each
piece, ``int_l^u exp(rho t) dt = exp(rho l) (u - l) g(rho (u - l))`` with
``rho = alpha_k s_i`` and ``g(x) = expm1(x) / x``: no quadrature.

**Random effects conditioned on the measurements.** The random effects cannot
be integrated out (the hazards are not Gaussian in them), but the Gaussian part
can be: the model is written as

.. math::

    p(y, b \mid \theta) = p(y \mid \theta)\, p(b \mid y, \theta), \qquad
    b_i = \mu_i(\theta) + C_i(\theta) z_i, \quad z_i \sim N(0, I_2),

where ``p(y | theta)`` is the marginal (random effects integrated) likelihood of
the measurements and ``N(mu_i, C_i C_i')`` the conditional posterior of ``b_i``
given patient ``i``'s measurements; the Jacobian ``|C_i|`` cancels that density's
normalising constant, so the reparametrisation is exact. The sampler's ``z_i``
are a priori independent of the other parameters whatever the number of
measurements (centred when the data identify ``b_i``, non-centred when they do
not), and only the survival likelihood couples them. With ``G = L L'`` and
``A_i = sigma^2 I + L' S_i L`` (``S_i = Z_i'Z_i``, ``u_i = Z_i'(y_i - Z_i f_i)``,
``f_i`` the fixed intercept and slope):

.. math::

    \mu_i = L A_i^{-1} L' u_i, \qquad C_i = \sigma L K_i^{-T} \ (A_i = K_i K_i'),

    \log p(y_i \mid \theta) = -\tfrac12 \{ m_i \log 2\pi + 2 (m_i - 2) \log\sigma + \log|A_i|
        + (r_i'r_i - v_i' A_i^{-1} v_i) / \sigma^2 \}, \quad v_i = L' u_i,

all 2 x 2 and in closed form, vectorised over patients
(:mod:`longmod.engines.bayes.marginal_lmm` uses the same identities).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

#: Prior scales on the standardised scale (outcome SDs; time in units of ``time_scale``).
DEFAULT_PRIORS: Mapping[str, float] = {
    "intercept": 1.0,      # beta_0 ~ N(0, .)
    "slope": 2.0,          # beta_1 ~ N(0, .)
    "arm": 1.0,            # beta_a ~ N(0, .) (randomised: the arms start alike)
    "arm_slope": 1.0,      # beta_s ~ N(0, .)
    "covariate": 1.0,      # beta_w, eta ~ N(0, .)
    "re_sd": 1.0,          # SDs of b_0, b_1 ~ HalfNormal(.)
    "re_corr_eta": 2.0,    # corr(b_0, b_1): LKJ(eta), i.e. (rho + 1) / 2 ~ Beta(eta, eta)
    "sigma": 1.0,          # residual SD ~ HalfNormal(.)
    "log_hr": 1.0,         # gamma ~ N(0, .)
    "association": 1.0,    # alpha, alpha^s ~ N(0, .)
    "log_baseline": 2.0,   # lambda_kj ~ N(log crude rate_k, .)
}
ASSOCIATIONS: tuple[str, ...] = ("value", "slope")


def resolve_priors(priors: Mapping[str, float] | None) -> dict[str, float]:
    """Merge user prior scales into :data:`DEFAULT_PRIORS` (unknown keys are an error).

    Examples
    --------
    >>> resolve_priors({"log_hr": 0.5})["log_hr"]
    0.5
    >>> resolve_priors({"loghr": 0.5})
    Traceback (most recent call last):
    ...
    ValueError: unknown joint-model prior(s) loghr; valid: intercept, slope, arm, arm_slope, covariate, re_sd, re_corr_eta, sigma, log_hr, association, log_baseline
    """
    out = dict(DEFAULT_PRIORS)
    unknown = [k for k in (priors or {}) if k not in out]
    if unknown:
        raise ValueError(f"unknown joint-model prior(s) {', '.join(unknown)}; valid: {', '.join(out)}")
    for k, v in (priors or {}).items():
        if not float(v) > 0:
            raise ValueError(f"joint-model prior {k!r} must be a positive scale, got {v!r}")
        out[k] = float(v)
    return out


def _g(x):
    """``expm1(x) / x`` with its limit 1 at 0 (series near 0; no NaN in either branch's gradient)."""
    import pytensor.tensor as pt

    small = pt.abs(x) < 1e-4
    xs = pt.switch(small, 1.0, x)
    return pt.switch(small, 1.0 + x / 2.0 + x * x / 6.0, pt.expm1(xs) / xs)


def build_joint_model(packed: np.ndarray, layout: Mapping[str, int], causes: Sequence[str],
                      n_pieces: Mapping[str, int], covariates: Sequence[str], association: Sequence[str],
                      priors: Mapping[str, float]):
    """The PyMC model; ``packed`` becomes the ``pm.Data`` container ``"patients"`` (static shape).

    Returns
    -------
    pymc.Model
        Free variables ``beta`` (intercept, slope, arm, arm_slope), ``beta_cov``
        (when covariates), ``re_sd`` (2), ``re_corr_u`` (``(rho + 1) / 2``),
        ``sigma``, ``z`` (n_patients x 2) and per cause ``k`` (its position in
        ``causes``, 0, 1, ...): ``log_base_k``, ``log_hr_k``, ``assoc_k`` (and
        ``assoc_slope_k``, ``eta_k``);
        deterministics ``re_corr`` and ``re`` (the random effects ``b_i``,
        n_patients x 2, standardised units, patients in the data's order).

    Examples
    --------
    >>> import pandas as pd
    >>> from longmod.engines.joint.data import prepare_joint_data
    >>> m = pd.DataFrame({"pid": ["a", "a", "b"], "d": [0, 2, 0], "y": [1.0, 2.0, 0.5]})
    >>> p = pd.DataFrame({"pid": ["a", "b"], "grp": ["T", "C"], "t": [5.0, 3.0], "ev": ["death", None]})
    >>> jd, _ = prepare_joint_data(m, p, id="pid", time="d", value="y", arm="grp", event_time="t",
    ...                            event="ev", active="T", reference="C", causes={"death": "lower"})
    >>> model = build_joint_model(jd.packed, jd.layout, jd.causes, {"death": len(jd.cuts["death"]) - 1},
    ...                           jd.covariates, ["value"], resolve_priors(None))
    >>> sorted(v.name for v in model.free_RVs)[:4]
    ['assoc_0', 'beta', 'log_base_0', 'log_hr_0']
    """
    import pymc as pm
    import pytensor.tensor as pt

    n, q = packed.shape[0], len(covariates)
    col = dict(layout)
    with pm.Model() as model:
        P = pt.specify_shape(pm.Data("patients", packed), packed.shape)

        def c(name: str):
            return P[:, col[name]]

        x = c("arm")
        beta = pm.Normal("beta", 0.0, np.array([priors["intercept"], priors["slope"], priors["arm"],
                                                priors["arm_slope"]]), shape=4)
        f0 = beta[0] + beta[2] * x
        if q:
            W = pt.stack([c(f"cov:{v}") for v in covariates], axis=1)
            beta_cov = pm.Normal("beta_cov", 0.0, priors["covariate"], shape=q)
            f0 = f0 + pt.dot(W, beta_cov)
        f1 = beta[1] + beta[3] * x
        re_sd = pm.HalfNormal("re_sd", priors["re_sd"], shape=2)
        eta = priors["re_corr_eta"]
        u_corr = pm.Beta("re_corr_u", eta, eta)
        rho = pm.Deterministic("re_corr", 2.0 * u_corr - 1.0)
        sigma = pm.HalfNormal("sigma", priors["sigma"])
        s2 = sigma**2
        # L = chol(G) = [[l11, 0], [l21, l22]]
        l11, l21, l22 = re_sd[0], re_sd[1] * rho, re_sd[1] * pt.sqrt(1.0 - rho**2)
        m, st, stt = c("n_obs"), c("sum_t"), c("sum_tt")
        # residual sums r = y - Z f: u = Z'r, r'r
        u0 = c("sum_y") - (m * f0 + st * f1)
        u1 = c("sum_ty") - (st * f0 + stt * f1)
        rr = c("sum_yy") - 2.0 * (f0 * c("sum_y") + f1 * c("sum_ty")) + f0**2 * m + 2 * f0 * f1 * st + f1**2 * stt
        # L'SL and A = s2 I + L'SL (symmetric 2x2)
        sl00 = l11**2 * m + 2 * l11 * l21 * st + l21**2 * stt
        sl01 = l11 * l22 * st + l21 * l22 * stt
        sl11 = l22**2 * stt
        a00, a01, a11 = s2 + sl00, sl01, s2 + sl11
        det = a00 * a11 - a01**2
        v0, v1 = l11 * u0 + l21 * u1, l22 * u1
        quad = (a11 * v0**2 - 2 * a01 * v0 * v1 + a00 * v1**2) / det
        loglik = -0.5 * (m * np.log(2 * np.pi) + 2.0 * (m - 2.0) * pt.log(sigma) + pt.log(det) + (rr - quad) / s2)
        pm.Potential("longitudinal", loglik.sum())
        # conditional mean mu = L A^{-1} v and square root sigma L K^{-T} (K = chol A)
        w0, w1 = (a11 * v0 - a01 * v1) / det, (a00 * v1 - a01 * v0) / det
        mu0, mu1 = l11 * w0, l21 * w0 + l22 * w1
        k11 = pt.sqrt(a00)
        k21 = a01 / k11
        k22 = pt.sqrt(a11 - k21**2)
        # K^{-T} = [[1/k11, -k21/(k11 k22)], [0, 1/k22]]; C = sigma L K^{-T}
        kt00, kt01, kt11 = 1.0 / k11, -k21 / (k11 * k22), 1.0 / k22
        z = pm.Normal("z", 0.0, 1.0, shape=(n, 2))
        e0 = kt00 * z[:, 0] + kt01 * z[:, 1]
        e1 = kt11 * z[:, 1]
        b0 = mu0 + sigma * (l11 * e0)
        b1 = mu1 + sigma * (l21 * e0 + l22 * e1)
        pm.Deterministic("re", pt.stack([b0, b1], axis=1))
        a_i, s_i = f0 + b0, f1 + b1
        T = c("time")
        for k, cause in enumerate(causes):  # variables are named by position: a renamed cause gives the same graph
            J = int(n_pieces[cause])
            expo = pt.stack([c(f"exposure:{cause}[{j}]") for j in range(J)], axis=1)
            piece = pt.stack([c(f"piece:{cause}[{j}]") for j in range(J)], axis=1)
            start = pt.stack([c(f"start:{cause}[{j}]") for j in range(J)], axis=1)
            centre = c(f"base_center:{cause}")[0]
            lam = pm.Normal(f"log_base_{k}", centre, priors["log_baseline"], shape=J)
            gamma = pm.Normal(f"log_hr_{k}", 0.0, priors["log_hr"])
            alpha = pm.Normal(f"assoc_{k}", 0.0, priors["association"]) if "value" in association else 0.0
            lin = gamma * x
            if "value" in association:
                lin = lin + alpha * a_i
            if "slope" in association:
                alpha_s = pm.Normal(f"assoc_slope_{k}", 0.0, priors["association"])
                lin = lin + alpha_s * s_i
            if q:
                eta_k = pm.Normal(f"eta_{k}", 0.0, priors["covariate"], shape=q)
                lin = lin + pt.dot(W, eta_k)
            rate = alpha * s_i if "value" in association else pt.zeros_like(s_i)
            r2 = rate[:, None]
            cum = pt.sum(pt.exp(lam[None, :] + lin[:, None] + r2 * start) * expo * _g(r2 * expo), axis=1)
            d = c(f"event:{cause}")
            log_h = pt.dot(piece, lam) + lin + rate * T
            pm.Potential(f"survival_{k}", pt.sum(d * log_h - cum))
    return model
