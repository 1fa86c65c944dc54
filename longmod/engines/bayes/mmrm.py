r"""The Bayesian MMRM: one compiled graph for every missingness pattern (padding, a prefix mask, one Cholesky).

Each patient's outcomes are laid out over the ``K`` visits (``y`` padded with
0 where a visit is missing, ``Z`` padded with zero rows). With ``L`` the
Cholesky factor of ``Sigma`` and a patient observed on a *prefix* of the
visits ``P = {1, ..., m}`` (complete data, or dropout after visit ``m``),
``Sigma[P, P] = L[P, P] L[P, P]'`` and the first ``m`` entries of
``z = L^{-1} r`` are ``L[P, P]^{-1} r_P``, so

.. math::

    \log N(y_P | \mu_P, \Sigma_{PP}) = -\tfrac12 \sum_{k \in P} z_k^2
        - \sum_{k \in P} \log L_{kk} - \tfrac{m}{2} \log 2\pi :

one triangular solve for all patients and a mask per patient give the exact
likelihood of every monotone pattern (MAR, as in the frequentist MMRM). The sum
and its gradient are one Op with a numba kernel
(:mod:`longmod.engines.bayes.prefix_mvn`). A
visit missed *before* a patient's last observed visit (an intermittent gap)
is a latent value ``y_missing`` (flat prior) inside the prefix; integrating
it out is exact marginalisation, so the posterior of every other parameter is
that of ``MvNormal(X_o beta, Sigma[o, o])`` over the observed visits ``o``.
The masks, patterns and gap positions are *data*: the compiled graph depends
only on ``K``, the number of columns and of gaps, the covariance structure and
the prior families, so one compiled model serves every data set of that shape.

The covariance ``Sigma = sigma(phi, t)`` is the covariance table's own function
(:mod:`longmod.engines.bayes.covstruct`); ``L`` is its Cholesky factor, or for
``us`` the factor ``diag(visit_sd) L_corr`` the structure is built from (the
same matrix, without re-factorising it in every gradient:
:class:`~longmod.engines.bayes.covstruct.CovarianceGraph`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from longmod.engines.bayes.covstruct import LOG_2PI, PARAMETRISATIONS, phi_names, symbolic_sigma
from longmod.engines.bayes.design import BayesDesign
from longmod.engines.bayes.rvs import PriorVariables


@dataclass(frozen=True)
class MMRMArrays:
    """Padded per-patient arrays of an MMRM fit.

    Attributes
    ----------
    Z : (n_patients, K, p) design (zero rows at missing visits).
    y : (n_patients, K) outcome (0 at missing visits).
    mask : (n_patients, K) bool, observed visits.
    prefix : (n_patients, K) float, 1 up to the patient's last observed visit.
    gap_patient, gap_visit : (n_gaps,) int, intermittent missing visits (inside the prefix).
    pattern : (n_patients,) int, index into ``pattern_mask``.
    pattern_mask : (n_patterns, K) float, 1 = observed (most complete first).
    row_patient, row_visit : (n_obs,) int, where each row of the data sits.

    Examples
    --------
    >>> a = mmrm_arrays(Z, y, subject, pos, 3)  # doctest: +SKIP
    """

    Z: np.ndarray
    y: np.ndarray
    mask: np.ndarray
    prefix: np.ndarray
    gap_patient: np.ndarray
    gap_visit: np.ndarray
    pattern: np.ndarray
    pattern_mask: np.ndarray
    row_patient: np.ndarray
    row_visit: np.ndarray

    def data(self) -> dict[str, np.ndarray]:
        """Values of the model's data containers."""
        out = {"Z": self.Z, "y": self.y, "prefix": self.prefix}
        if len(self.gap_patient):
            out.update(gap_patient=self.gap_patient, gap_visit=self.gap_visit)
        return out

    def gap_start(self) -> np.ndarray:
        """Initial values of the gaps: the mean of the observed outcomes at each gap's visit."""
        K = self.y.shape[1]
        means = np.array([self.y[self.mask[:, k], k].mean() if self.mask[:, k].any() else 0.0 for k in range(K)])
        return means[self.gap_visit]


def mmrm_arrays(Z: np.ndarray, y: np.ndarray, patient: np.ndarray, visit: np.ndarray, K: int) -> MMRMArrays:
    """Lay rows out per patient and visit.

    Parameters
    ----------
    Z : (n_obs, p) ndarray
    y : (n_obs,) ndarray
    patient : (n_obs,) int codes 0..n_patients-1
    visit : (n_obs,) int visit index 0..K-1
    K : int

    Raises
    ------
    ValueError
        A patient has two rows at one visit.

    Examples
    --------
    >>> import numpy as np
    >>> a = mmrm_arrays(np.ones((3, 1)), np.array([1.0, 2.0, 3.0]), np.array([0, 0, 1]), np.array([0, 1, 1]), 2)
    >>> a.y.tolist(), a.prefix.tolist(), a.gap_patient.tolist(), a.gap_visit.tolist()
    ([[1.0, 2.0], [0.0, 3.0]], [[1.0, 1.0], [1.0, 1.0]], [1], [0])
    """
    patient = np.asarray(patient, dtype=int)
    visit = np.asarray(visit, dtype=int)
    n = int(patient.max()) + 1 if len(patient) else 0
    p = Z.shape[1]
    if np.any(np.bincount(patient * K + visit, minlength=n * K) > 1):
        raise ValueError("a patient has two rows at the same visit; the MMRM needs one row per patient and visit")
    mask = np.zeros((n, K), dtype=bool)
    mask[patient, visit] = True
    Zp = np.zeros((n, K, p))
    Zp[patient, visit] = Z
    yp = np.zeros((n, K))
    yp[patient, visit] = y
    last = np.array([np.flatnonzero(r).max() for r in mask])
    prefix = (np.arange(K)[None, :] <= last[:, None])
    gp, gv = np.nonzero(prefix & ~mask)
    pats, inv = np.unique(mask, axis=0, return_inverse=True)
    order = np.array(sorted(range(len(pats)), key=lambda k: (-int(pats[k].sum()), tuple(~pats[k]))), dtype=int)
    rank = np.empty(len(order), dtype=int)
    rank[order] = np.arange(len(order))
    return MMRMArrays(Z=Zp, y=yp, mask=mask, prefix=prefix.astype(float), gap_patient=gp.astype(np.int64),
                      gap_visit=gv.astype(np.int64), pattern=rank[np.asarray(inv).ravel()],
                      pattern_mask=pats[order].astype(float), row_patient=patient, row_visit=visit)


def assemble_theta(design: BayesDesign, rv: PriorVariables, visit_dim: str = "visit") -> Any:
    """Create the coefficient variables and return ``theta`` (a PyTensor vector in ``design.theta_names`` order).

    Variables: ``intercept`` (centred), ``effect`` (dims ``visit``; or
    ``effect_basis`` + deterministic ``effect`` when several visits share one
    contrast), ``coef`` (the other columns). ``beta`` (R names, dims ``term``)
    is a deterministic.

    Examples
    --------
    >>> theta = assemble_theta(design, rv)  # doctest: +SKIP
    """
    import pymc as pm
    import pytensor.tensor as pt

    pri = rv.priors
    p = len(design.theta_names)
    parts, where = [], []
    if design.intercept is not None:
        parts.append(rv.coefficients("intercept", [pri.intercept]))
        where.append([design.intercept])
    if len(design.effect_idx):
        tp = [pri.treatment] * len(design.effect_idx)
        if len(design.basis_visits) == len(design.visits) and np.array_equal(design.effect_map, np.arange(len(design.visits))):
            eff = rv.coefficients("effect", tp, dims=visit_dim if design.visits != ("",) else None)
        else:
            basis = rv.coefficients("effect_basis", tp)
            eff = basis
            rv.deterministic("effect", basis[design.effect_map], dims=visit_dim if design.visits != ("",) else None)
        parts.append(eff)
        where.append(list(design.effect_idx))
    if len(design.coef_idx):
        names = [design.theta_names[k] for k in design.coef_idx]
        parts.append(rv.coefficients("coef", [pri.coefficients[n] for n in names]))
        where.append(list(design.coef_idx))
    flat = [k for w in where for k in w]
    theta = pt.concatenate([pt.atleast_1d(x) for x in parts])[np.argsort(flat)]
    assert sorted(flat) == list(range(p))
    # beta (R parametrisation): undo the centring of the intercept, then map theta -> beta
    # (data containers: the map depends on the data's column means, the compiled graph must not)
    t = theta
    if design.intercept is not None:
        means = pm.Data("design_means", design.means)
        t = pt.set_subtensor(theta[design.intercept], theta[design.intercept] - pt.dot(theta, means))
    pm.Deterministic("beta", pt.dot(pm.Data("design_to_beta", design.to_beta), t), dims="term")
    return theta


def build_mmrm(design: BayesDesign, arrays: MMRMArrays, structure: Any, t: np.ndarray,
               rv: PriorVariables) -> Any:
    """PyMC model of the MMRM (see the module docstring).

    Parameters
    ----------
    design : BayesDesign
    arrays : MMRMArrays
    structure : covariance-table entry (``kind == "mmrm"``)
    t : (K,) numeric visit positions
    rv : PriorVariables
        Fresh factory (its data/signature are filled while building).

    Returns
    -------
    pymc.Model
        Free variables as in :func:`assemble_theta`, the structure's
        parameters and ``y_missing`` (one per intermittent gap, flat prior);
        deterministics ``beta``, ``effect`` (if not free) and ``cov_params``
        (the table's ``phi``, dims ``cov_param``); one potential ``loglik``.

    Examples
    --------
    >>> model = build_mmrm(design, arrays, structure, t, PriorVariables(pri))  # doctest: +SKIP
    """
    import pymc as pm
    import pytensor.tensor as pt

    from longmod.engines.bayes.prefix_mvn import prefix_mvn_logp

    K = len(t)
    coords = {"visit": list(design.visits), "term": design.columns,
              "cov_param": phi_names(structure, design.visits)}
    with pm.Model(coords=coords) as model:
        yd = pm.Data("y", arrays.y)
        n = yd.shape[0]
        # every per-patient container is declared to have y's length (one symbolic length keeps
        # the graph's numba cache key independent of PYTHONHASHSEED: see compile_cache)
        yd = pt.specify_shape(yd, (None, K))
        Zd = pt.specify_shape(pm.Data("Z", arrays.Z), (n, K, None))
        prefix = pt.specify_shape(pm.Data("prefix", arrays.prefix), (n, K))
        theta = assemble_theta(design, rv)
        cov = PARAMETRISATIONS[structure.name].build(K, t, rv)
        phi = pm.Deterministic("cov_params", cov.phi, dims="cov_param")
        L = cov.cholesky
        if L is None:
            S, nug = symbolic_sigma(structure, phi, t)
            L = pt.linalg.cholesky(S + nug * pt.eye(K))
        G = len(arrays.gap_patient)
        if G:
            gp = pm.Data("gap_patient", arrays.gap_patient)
            gv = pt.specify_shape(pm.Data("gap_visit", arrays.gap_visit), gp.shape)
            ymiss = pm.Flat("y_missing", shape=G, initval=arrays.gap_start())
            yd = pt.set_subtensor(yd[gp, gv], ymiss)
        mu = pt.dot(Zd.reshape((n * K, Zd.shape[2])), theta).reshape((n, K))
        r = (yd - mu) * prefix
        pm.Potential("loglik", prefix_mvn_logp(r, L, prefix))
    return model


def patient_loglik(arrays: MMRMArrays, mu: np.ndarray, Sigma: np.ndarray) -> np.ndarray:
    """Per-patient log-likelihood ``log MvNormal(y_o | mu_o, Sigma[o, o])`` for every draw.

    Parameters
    ----------
    arrays : MMRMArrays
    mu : (..., n_patients, K) means
    Sigma : (..., K, K) covariances

    Returns
    -------
    ndarray (..., n_patients)

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import stats
    >>> a = mmrm_arrays(np.ones((3, 1)), np.array([1.0, 2.0, 3.0]), np.array([0, 0, 1]), np.array([0, 1, 1]), 2)
    >>> S = np.array([[2.0, 0.5], [0.5, 1.0]])
    >>> ll = patient_loglik(a, np.zeros((2, 2)), S)
    >>> bool(np.isclose(ll[0], stats.multivariate_normal([0, 0], S).logpdf([1, 2])))
    True
    >>> bool(np.isclose(ll[1], stats.norm(0, 1).logpdf(3)))
    True
    """
    lead = Sigma.shape[:-2]
    out = np.zeros(lead + (arrays.y.shape[0],))
    for k, m in enumerate(arrays.pattern_mask.astype(bool)):
        who = np.flatnonzero(arrays.pattern == k)
        if not len(who):
            continue
        o = np.flatnonzero(m)
        L = np.linalg.cholesky(Sigma[..., o[:, None], o[None, :]])  # (..., m, m)
        r = arrays.y[who][:, o] - mu[..., who, :][..., o]  # (..., n_k, m)
        z = np.linalg.solve(L[..., None, :, :], r[..., None])[..., 0]
        logdet = np.log(np.diagonal(L, axis1=-2, axis2=-1)).sum(axis=-1)
        out[..., who] = -0.5 * (z**2).sum(axis=-1) - logdet[..., None] - 0.5 * len(o) * LOG_2PI
    return out
