"""Hierarchical LMM with the Gaussian random effects integrated out (marginal likelihood).

The latent LMM samples ``2 x n_patients`` standardised random effects beside the
fixed effects and variance parameters. Because the random effects are Gaussian
and enter linearly, they can be integrated out exactly: patient ``i`` contributes

.. math::

    y_i \\sim N(X_i \\beta,\\ V_i), \\qquad V_i = Z_i G Z_i' + \\sigma^2 I_{m_i},

with ``Z_i = [1, t_i]`` (random intercept + slope) or ``Z_i = 1`` (intercept
only) and ``G = L_G L_G'``, ``L_G = diag(sd) L_corr`` (the same LKJ-Cholesky
construction and priors as the latent model). The sampler then sees only the
fixed effects, ``sigma``, ``re_sd`` and ``re_corr``: a few parameters with a
well-conditioned posterior instead of hundreds of funnel-coupled ones.

**Per-patient closed form (no m x m matrix is ever built).** With
``r_i = y_i - X_i beta``, ``u_i = Z_i' r_i`` and ``S_i = Z_i' Z_i`` (q x q,
q = 1 or 2), the Woodbury identity and the matrix determinant lemma written
with ``W_i = Z_i L_G`` give

.. math::

    A_i = \\sigma^2 I_q + L_G' S_i L_G, \\qquad
    r_i' V_i^{-1} r_i = (r_i' r_i - v_i' A_i^{-1} v_i) / \\sigma^2, \\quad v_i = L_G' u_i,

    \\log |V_i| = 2 (m_i - q) \\log \\sigma + \\log |A_i|.

``A_i`` is ``q x q`` (a scalar or a 2 x 2 matrix, inverted in closed form) and
stays well conditioned when a random-effect SD tends to 0 (``A_i -> sigma^2
I``), unlike the ``G^{-1}`` form. ``u_i = Z_i'y_i - (Z_i'X_i) beta``: the
per-patient sums ``Z_i'y_i`` and ``Z_i'X_i`` are computed once in NumPy
(:func:`patient_sums`), so one gradient costs O(n_obs p + n_patients p) with no
scatter/gather over patients. Patients with a single observation are handled
by the same formulas (``S_i`` is then singular, ``A_i`` is not).

The random effects themselves are not sampled; their conditional posterior
given the other parameters is Gaussian, ``b_i | . ~ N(G Z_i' V_i^{-1} r_i,
(G^{-1} + Z_i'Z_i / sigma^2)^{-1})``, and :func:`random_effects_mean`
returns its mean averaged over the posterior draws (the posterior mean of
``b_i``) when a caller needs them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class PatientSums:
    """Per-patient sufficient statistics of the marginal LMM (NumPy arrays).

    Attributes
    ----------
    m : (n_patients,) observations per patient.
    st, stt : (n_patients,) sums of ``t`` and ``t**2`` per patient.
    zy : (n_patients, 2) ``[sum y, sum t y]`` per patient.
    zx0, zx1 : (n_patients, p) ``sum X`` and ``sum t X`` per patient.

    Examples
    --------
    >>> import numpy as np
    >>> s = patient_sums(np.ones((3, 1)), np.array([1.0, 2.0, 5.0]), np.array([0.0, 1.0, 0.0]), np.array([0, 0, 1]), 2)
    >>> type(s).__name__, s.stt.tolist(), sorted(s.as_data())
    ('PatientSums', [1.0, 0.0], ['pat_m', 'pat_st', 'pat_stt', 'pat_zx0', 'pat_zx1', 'pat_zy'])
    """

    m: np.ndarray
    st: np.ndarray
    stt: np.ndarray
    zy: np.ndarray
    zx0: np.ndarray
    zx1: np.ndarray

    def as_data(self) -> dict[str, np.ndarray]:
        """Values of the model's ``pm.Data`` containers (names used by :func:`build_marginal_lmm`)."""
        return {"pat_m": self.m, "pat_st": self.st, "pat_stt": self.stt, "pat_zy": self.zy,
                "pat_zx0": self.zx0, "pat_zx1": self.zx1}


def patient_sums(X: np.ndarray, y: np.ndarray, t: np.ndarray, subject_idx: np.ndarray, n_subjects: int) -> PatientSums:
    """Per-patient sums ``Z_i'Z_i``, ``Z_i'y_i`` and ``Z_i'X_i`` with ``Z_i = [1, t_i]``.

    Parameters
    ----------
    X : (n_obs, p) ndarray
        Fixed-effects design (centred or not; the same one the model uses).
    y, t : (n_obs,) ndarray
        Outcome and the time of the random slope (zeros for intercept-only).
    subject_idx : (n_obs,) int ndarray
        Patient of each row, ``0 .. n_subjects - 1``.
    n_subjects : int

    Returns
    -------
    PatientSums

    Examples
    --------
    >>> import numpy as np
    >>> s = patient_sums(np.ones((3, 1)), np.array([1.0, 2.0, 5.0]), np.array([0.0, 1.0, 0.0]),
    ...                  np.array([0, 0, 1]), 2)
    >>> s.m.tolist(), s.st.tolist(), s.zy.tolist(), s.zx1.ravel().tolist()
    ([2.0, 1.0], [1.0, 0.0], [[3.0, 2.0], [5.0, 0.0]], [1.0, 0.0])
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    t = np.asarray(t, dtype=float)
    idx = np.asarray(subject_idx)

    def seg(v: np.ndarray) -> np.ndarray:
        out = np.zeros((n_subjects,) + v.shape[1:])
        np.add.at(out, idx, v)
        return out

    return PatientSums(
        m=seg(np.ones_like(y)), st=seg(t), stt=seg(t * t),
        zy=np.column_stack([seg(y), seg(t * y)]), zx0=seg(X), zx1=seg(t[:, None] * X),
    )


def build_marginal_lmm(design: Any, y: np.ndarray, sums: PatientSums, rv: Any, slope: bool) -> Any:
    """PyMC model of the LMM with the random effects integrated out.

    Same free parameters and priors as the latent model in
    :mod:`longmod.engines.bayes.lmm` (coefficients, ``sigma``, ``re_sd``,
    ``re_corr``), without ``z0``/``z1``. The likelihood is one
    ``pm.Potential`` named ``loglik``.

    Parameters
    ----------
    design : BayesDesign
        ``Z`` is the (centred, contrast-parametrised) design; coefficient
        variables as in :func:`longmod.engines.bayes.mmrm.assemble_theta`.
    y : (n_obs,) ndarray
    sums : PatientSums
        From :func:`patient_sums` on the same ``design.Z``.
    rv : PriorVariables
    slope : bool
        Random intercept + slope (True) or random intercept only.

    Returns
    -------
    pymc.Model
        Data containers: ``X``, ``y`` and those of :meth:`PatientSums.as_data`;
        deterministics ``beta``, ``effect`` (when not free), ``re_corr`` and
        ``cov_params`` (the covariance table's ``phi`` of ``ri``/``ris``).

    Examples
    --------
    >>> import numpy as np
    >>> from longmod.engines.bayes.design import contrast_design, _toy_prep
    >>> from longmod.engines.bayes.priors import resolve_priors
    >>> from longmod.engines.bayes.rvs import PriorVariables
    >>> d = contrast_design(_toy_prep(), np.array([[0.0, 1.0]]), ("",), np.array([np.nan]))
    >>> y, t, idx = np.array([1.0, 2.0, 0.0, 1.0]), np.array([0.0, 1.0, 0.0, 1.0]), np.array([0, 0, 1, 1])
    >>> pri = resolve_priors({"scale": 1.0}, d.columns, contrast_columns=d.contrast_columns, mcid=None)
    >>> model = build_marginal_lmm(d, y, patient_sums(d.Z, y, t, idx, 2), PriorVariables(pri), True)
    >>> sorted(v.name for v in model.free_RVs)
    ['effect', 'intercept', 're_corr_cpc', 're_sd_intercept', 're_sd_slope', 'sigma']
    """
    import pymc as pm
    import pytensor.tensor as pt

    from longmod.engines.bayes.lkj import lkj_corr_cholesky
    from longmod.engines.bayes.mmrm import assemble_theta

    pri = rv.priors
    n_obs = len(y)
    coords = {"term": design.columns, "cov_param": (["var(Intercept)", "cov(Intercept,time)", "var(time)", "residual"]
                                                    if slope else ["var(Intercept)", "residual"])}
    if design.visits != ("",):
        coords["visit"] = list(design.visits)
    with pm.Model(coords=coords) as model:
        yd = pm.Data("y", y)
        n = yd.shape[0]
        X = pt.specify_shape(pm.Data("X", design.Z), (n, None))
        d = {k: pm.Data(k, v) for k, v in sums.as_data().items()}
        beta_c = assemble_theta(design, rv)
        sigma = rv.scale("sigma")
        resid = yd - pt.dot(X, beta_c)
        rss = pt.sum(resid**2)
        s2 = sigma**2
        u0 = d["pat_zy"][:, 0] - pt.dot(d["pat_zx0"], beta_c)  # sum_i r_i per patient
        m = d["pat_m"]
        if slope:
            sd = pt.stack([rv.scale("re_sd_intercept", prior=pri.random_intercept_sd),
                           rv.scale("re_sd_slope", prior=pri.random_slope_sd)])
            sd = pm.Deterministic("re_sd", sd)
            Lc = lkj_corr_cholesky("re_corr", 2, rv.eta)
            rho = pm.Deterministic("re_corr", Lc[1, 0])
            l00, l10, l11 = sd[0], sd[1] * rho, sd[1] * Lc[1, 1]  # L_G = diag(sd) L_corr
            u1 = d["pat_zy"][:, 1] - pt.dot(d["pat_zx1"], beta_c)  # sum_i t r_i per patient
            s00, s01, s11 = m, d["pat_st"], d["pat_stt"]
            a00 = s2 + l00**2 * s00 + 2.0 * l00 * l10 * s01 + l10**2 * s11
            a01 = l11 * (l00 * s01 + l10 * s11)
            a11 = s2 + l11**2 * s11
            v0 = l00 * u0 + l10 * u1
            v1 = l11 * u1
            det = a00 * a11 - a01**2
            quad_a = (a11 * v0**2 - 2.0 * a01 * v0 * v1 + a00 * v1**2) / det
            logdet = pt.sum(2.0 * (m - 2.0)) * pt.log(sigma) + pt.sum(pt.log(det))
            pm.Deterministic("cov_params", pt.stack([sd[0] ** 2, sd[0] * sd[1] * rho, sd[1] ** 2, s2]),
                             dims="cov_param")
        else:
            sd0 = rv.scale("re_sd", prior=pri.random_intercept_sd)
            a = s2 + sd0**2 * m
            quad_a = (sd0 * u0) ** 2 / a
            logdet = pt.sum(2.0 * (m - 1.0)) * pt.log(sigma) + pt.sum(pt.log(a))
            pm.Deterministic("cov_params", pt.stack([sd0**2, s2]), dims="cov_param")
        quad = (rss - pt.sum(quad_a)) / s2
        pm.Potential("loglik", -0.5 * (quad + logdet + n_obs * math.log(2.0 * math.pi)))
    return model


def random_effects_mean(idata: Any, Xc: np.ndarray, y: np.ndarray, t: np.ndarray, subject_idx: np.ndarray,
                        n_subjects: int, *, slope: bool, max_draws: int = 400) -> np.ndarray:
    """Posterior mean of the random effects ``b_i`` of a marginal-LMM fit.

    For each posterior draw (thinned to at most ``max_draws``) the conditional
    mean ``E[b_i | beta, G, sigma, y] = G Z_i' V_i^{-1} r_i =
    L_G A_i^{-1} L_G' u_i`` is computed in closed form and averaged (law of
    total expectation).

    Parameters
    ----------
    idata : arviz.InferenceData
        Posterior (or unconstrained posterior) with ``beta``, ``sigma``, ``re_sd``
        (and ``re_corr`` if ``slope``).
    Xc, y, t, subject_idx, n_subjects
        The data the model was fitted to (``Xc``: the design of ``beta``, R parametrisation).
    slope : bool
    max_draws : int

    Returns
    -------
    ndarray, shape (n_subjects, 2) or (n_subjects, 1)
        Columns: random intercept (and random slope on ``t``).

    Examples
    --------
    >>> import arviz as az, numpy as np
    >>> idata = az.from_dict(posterior={"beta": np.zeros((1, 2, 1)), "sigma": np.ones((1, 2)), "re_sd": np.ones((1, 2, 1))})
    >>> y, t, idx = np.array([1.0, 1.0, 2.0]), np.array([0.0, 1.0, 0.0]), np.array([0, 0, 1])
    >>> b = random_effects_mean(idata, np.ones((3, 1)), y, t, idx, 2, slope=False)
    >>> b.round(3).tolist()  # intercept shrinkage: sd^2 * sum(r) / (sigma^2 + m sd^2)
    [[0.667], [1.0]]
    """
    post = idata.posterior.merge(idata.unconstrained_posterior) if "unconstrained_posterior" in idata else idata.posterior
    beta = post["beta"].values.reshape(-1, Xc.shape[1])
    sigma = post["sigma"].values.ravel()
    sd = post["re_sd"].values.reshape(len(sigma), -1)
    rho = post["re_corr"].values.ravel() if slope else np.zeros(len(sigma))
    take = np.linspace(0, len(sigma) - 1, min(max_draws, len(sigma))).astype(int)
    s = patient_sums(Xc, y, t, subject_idx, n_subjects)
    S = np.stack([np.stack([s.m, s.st], -1), np.stack([s.st, s.stt], -1)], -2)  # (n, 2, 2)
    q = 2 if slope else 1
    out = np.zeros((n_subjects, q))
    for k in take:
        u = s.zy - np.column_stack([s.zx0 @ beta[k], s.zx1 @ beta[k]])
        if slope:
            LG = np.array([[sd[k, 0], 0.0], [sd[k, 1] * rho[k], sd[k, 1] * math.sqrt(1.0 - rho[k] ** 2)]])
        else:
            LG = np.array([[sd[k, 0]]])
        Sq, uq = S[:, :q, :q], u[:, :q]
        A = sigma[k] ** 2 * np.eye(q) + LG.T @ Sq @ LG
        v = uq @ LG  # rows: (L_G' u_i)'
        out += np.linalg.solve(A, v[..., None])[..., 0] @ LG.T
    return out / len(take)


def patient_loglik_lmm(X: np.ndarray, y: np.ndarray, t: np.ndarray, subject_idx: np.ndarray, n_subjects: int,
                       beta: np.ndarray, sigma: np.ndarray, sd: np.ndarray, rho: np.ndarray | None) -> np.ndarray:
    """Per-patient marginal log-likelihood ``log N(y_i | X_i beta, Z_i G Z_i' + sigma^2 I)`` for every draw.

    The closed form of :func:`build_marginal_lmm`, vectorised over draws.

    Parameters
    ----------
    X : (n_obs, p) design of ``beta``; y, t : (n_obs,)
    subject_idx : (n_obs,) int; n_subjects : int
    beta : (..., p); sigma : (...,); sd : (..., q) random-effect SDs (q = 1 or 2)
    rho : (...,) intercept-slope correlation, or None (q = 1)

    Returns
    -------
    ndarray (..., n_subjects)

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import stats
    >>> X, y, t = np.ones((3, 1)), np.array([1.0, 2.0, 0.5]), np.array([0.0, 1.0, 0.0])
    >>> ll = patient_loglik_lmm(X, y, t, np.array([0, 0, 1]), 2, np.array([0.2]), np.array(1.5),
    ...                         np.array([0.7, 0.3]), np.array(0.4))
    >>> G = np.array([[0.49, 0.4 * 0.21], [0.4 * 0.21, 0.09]]); Z = np.array([[1.0, 0.0], [1.0, 1.0]])
    >>> bool(np.isclose(ll[0], stats.multivariate_normal(np.full(2, 0.2), Z @ G @ Z.T + 2.25 * np.eye(2)).logpdf(y[:2])))
    True
    """
    from scipy import sparse

    X = np.asarray(X, dtype=float)
    lead = np.shape(sigma)
    beta = np.asarray(beta, dtype=float).reshape(-1, X.shape[1])
    sigma = np.asarray(sigma, dtype=float).reshape(-1)
    sd = np.asarray(sd, dtype=float).reshape(len(sigma), -1)
    ind = sparse.csr_matrix((np.ones(len(y)), (np.arange(len(y)), subject_idx)), shape=(len(y), n_subjects))
    r = y[None, :] - beta @ X.T  # (S, n_obs)
    seg = lambda v: np.asarray((sparse.csr_matrix(v) @ ind).todense())  # noqa: E731 - (S, n_obs) -> (S, n_subj)
    rss, u0 = seg(r**2), seg(r)
    m = np.asarray(ind.sum(axis=0)).ravel()
    s2 = (sigma**2)[:, None]
    if rho is None:
        a = s2 + (sd[:, 0] ** 2)[:, None] * m
        quad_a = (sd[:, 0:1] * u0) ** 2 / a
        logdet = 2.0 * (m - 1.0) * np.log(sigma)[:, None] + np.log(a)
    else:
        rho = np.asarray(rho, dtype=float).reshape(-1)[:, None]
        st, stt = seg(t[None, :]).ravel(), seg((t * t)[None, :]).ravel()
        u1 = seg(r * t[None, :])
        l00, l10, l11 = sd[:, 0:1], sd[:, 1:2] * rho, sd[:, 1:2] * np.sqrt(1.0 - rho**2)
        a00 = s2 + l00**2 * m + 2.0 * l00 * l10 * st + l10**2 * stt
        a01 = l11 * (l00 * st + l10 * stt)
        a11 = s2 + l11**2 * stt
        v0, v1 = l00 * u0 + l10 * u1, l11 * u1
        det = a00 * a11 - a01**2
        quad_a = (a11 * v0**2 - 2.0 * a01 * v0 * v1 + a00 * v1**2) / det
        logdet = 2.0 * (m - 2.0) * np.log(sigma)[:, None] + np.log(det)
    ll = -0.5 * ((rss - quad_a) / s2 + logdet + m * math.log(2.0 * math.pi))
    return ll.reshape(lead + (n_subjects,))
