"""The covariance table: every structure of the Gaussian core is one entry.

Each :class:`Structure` maps an unconstrained optimisation vector ``theta`` to
its natural (SAS-like) parameters ``phi`` (variances, covariances,
correlations), and ``phi`` to a covariance over the *positions* of the
structure plus a nugget added on each patient's diagonal:

* MMRM structures (``us``, ``cs``, ``csh``, ``ar1``, ``ar1h``, ``toep``,
  ``toeph``, ``ad``, ``adh``, ``ind``): positions are the visit levels; a
  patient's V_i is the sub-matrix of the visits they attended; nugget 0.
* Random effects (``ri``, ``ris``, ``ris_diag``): V = Z G Z' + s2 I, positions are
  the distinct time values (``ris``, ``ris_diag``) or the within-patient row order
  (``ri``); the nugget is s2.
* Spatial (``sp_exp``): positions are the distinct values of a numeric time and the
  correlation decays with their distance, ``exp(-|t_i - t_j| / range)`` (SAS
  ``SP(EXP)(time)``, mmrm ``sp_exp``, nlme ``corExp``); nugget 0.

``ordered`` marks the MMRM structures whose covariance depends on the visit order
(``ar1``, ``ar1h``, ``toep``, ``toeph``, ``ad``, ``adh``): they must never run on an
order that came from sorting visit labels as text (see
:func:`longmod.engines.core.prepare.prepare`).

Inference (Satterthwaite, Kenward-Roger) differentiates V with respect to
``phi``, so KR matches SAS's parameterisation (for ``us`` and random-effects
structures V is linear in ``phi``, so KR equals KR-linear, as in SAS).
All functions are written with complex-safe NumPy operations so first
derivatives can be taken by complex step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType

import numpy as np


@dataclass(frozen=True)
class Structure:
    """One entry of the covariance table.

    Attributes
    ----------
    name : str
    label : str
        Human description.
    kind : {"mmrm", "re", "spatial"}
        ``"mmrm"``: positions are visit levels; ``"re"`` structures carry a nugget
        (residual variance) and allow repeated positions within a patient;
        ``"spatial"``: positions are the distinct values of a numeric time.
    n_par : callable
        ``n_par(K) -> int`` for K positions.
    names : callable
        ``names(labels) -> list[str]`` names of ``phi`` given position labels.
    start : callable
        ``start(var_by_position) -> theta0``.
    to_phi : callable
        ``to_phi(theta, K) -> phi``.
    sigma : callable
        ``sigma(phi, t) -> (S, nugget)`` with ``t`` the numeric position values.

    Examples
    --------
    >>> s = get_structure("ar1")
    >>> s.kind, s.ordered, s.n_par(3), s.names(["D1", "D2", "D3"])
    ('mmrm', True, 2, ['rho', 'residual'])
    >>> s.sigma(np.array([0.5, 2.0]), np.arange(3.0))[0]  # SAS AR(1): residual * rho ** |i - j|
    array([[2. , 1. , 0.5],
           [1. , 2. , 1. ],
           [0.5, 1. , 2. ]])
    """

    name: str
    label: str
    kind: str
    n_par: Callable[[int], int]
    names: Callable[[Sequence[str]], list[str]]
    start: Callable[[np.ndarray], np.ndarray]
    to_phi: Callable[[np.ndarray, int], np.ndarray]
    sigma: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, object]]
    #: optional analytic ``d sigma / d theta`` (q, K, K) and d nugget (q,); else complex step
    dsigma_theta: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None
    #: True when the covariance depends on the order of the visit levels
    ordered: bool = False


def _expit(z):
    return 1.0 / (1.0 + np.exp(-z))


def _cs_rho(z, K):
    lo = -1.0 / max(K - 1, 1)
    return lo + (1.0 - lo) * _expit(z)


def _cs_rho_inv(r, K):
    lo = -1.0 / max(K - 1, 1)
    u = (r - lo) / (1.0 - lo)
    return float(np.log(u / (1 - u)))


def _lag(K):
    i = np.arange(K)
    return np.abs(i[:, None] - i[None, :])


def _dl_autocorr(pacf):
    """Durbin-Levinson: partial autocorrelations -> autocorrelations r_1..r_m (complex safe)."""
    m = len(pacf)
    r = [None] * (m + 1)
    r[0] = 1.0
    phi_prev: list = []
    for k in range(1, m + 1):
        pk = pacf[k - 1]
        s1 = sum(phi_prev[j - 1] * r[k - j] for j in range(1, k)) if k > 1 else 0.0
        s2 = sum(phi_prev[j - 1] * r[j] for j in range(1, k)) if k > 1 else 0.0
        r[k] = s1 + pk * (1.0 - s2)
        phi_new = [phi_prev[j - 1] - pk * phi_prev[k - j - 1] for j in range(1, k)] + [pk]
        phi_prev = phi_new
    return np.array(r[1:], dtype=np.result_type(pacf, float))


def _toeplitz(c, K):
    L = _lag(K)
    return np.asarray(c)[L]


def _corr_from_vars(var, R):
    sd = np.sqrt(var)
    return sd[:, None] * R * sd[None, :]


def _ante_corr(rho, K):
    # corr(i, j) = prod_{m=i}^{j-1} rho_m
    out = np.ones((K, K), dtype=np.result_type(rho, float))
    for i in range(K):
        acc = 1.0
        for j in range(i + 1, K):
            acc = acc * rho[j - 1]
            out[i, j] = acc
            out[j, i] = acc
    return out


@lru_cache(maxsize=64)
def _tril_idx(K):
    return tuple((i, j) for i in range(K) for j in range(i + 1))


# --- us -----------------------------------------------------------------
@lru_cache(maxsize=64)
def _tril_arrays(K):
    ij = np.array(_tril_idx(K)).reshape(-1, 2)
    r, c = ij[:, 0].copy(), ij[:, 1].copy()
    r.flags.writeable = False
    c.flags.writeable = False
    return r, c


def _us_cholesky_values(theta, r, c):
    """Entries of L (row-major lower triangle): exp on the diagonal (only there: an off-diagonal theta may be large)."""
    vals = np.array(theta, dtype=np.result_type(theta, float))  # float or complex (complex-step derivatives)
    d = r == c
    vals[d] = np.exp(vals[d])
    return vals


def _us_to_phi(theta, K):
    r, c = _tril_arrays(K)
    vals = _us_cholesky_values(theta, r, c)
    L = np.zeros((K, K), dtype=vals.dtype)
    L[r, c] = vals
    S = L @ L.T
    return S[r, c]


def _us_dsigma_theta(theta, t):
    K = len(t)
    r, c = _tril_arrays(K)
    vals = _us_cholesky_values(np.asarray(theta, float), r, c)
    L = np.zeros((K, K))
    L[r, c] = vals
    q = len(theta)
    dL = np.zeros((q, K, K))
    dL[np.arange(q), r, c] = np.where(r == c, vals, 1.0)
    dLLt = dL @ L.T
    return dLLt + np.swapaxes(dLLt, 1, 2), np.zeros(q)


def _us_sigma(phi, t):
    K = len(t)
    r, c = _tril_arrays(K)
    S = np.zeros((K, K), dtype=phi.dtype)
    S[r, c] = phi
    S[c, r] = phi
    return S, 0.0


def _us_start(v):
    K = len(v)
    return np.array([0.5 * np.log(v[i]) if i == j else 0.0 for i, j in _tril_idx(K)])


def _us_names(lab):
    return [f"var({lab[i]})" if i == j else f"cov({lab[i]},{lab[j]})" for i, j in _tril_idx(len(lab))]


def _het(names_fn):
    return lambda lab: [f"var({x})" for x in lab] + names_fn(lab)


def _rho_names(prefix, n):
    return [f"{prefix}{k}" for k in range(1, n + 1)]


_TABLE: dict[str, Structure] = {}


def _register(s: Structure) -> None:
    _TABLE[s.name] = s


_register(Structure(
    "us", "unstructured: one variance per visit and one covariance per visit pair", "mmrm",
    lambda K: K * (K + 1) // 2, _us_names, _us_start, _us_to_phi, _us_sigma, _us_dsigma_theta))

_register(Structure(
    "ind", "independent, homogeneous variance", "mmrm",
    lambda K: 1, lambda lab: ["residual"], lambda v: np.array([np.log(np.mean(v))]),
    lambda th, K: np.exp(th), lambda phi, t: (phi[0] * np.eye(len(t), dtype=phi.dtype), 0.0)))

_register(Structure(
    "cs", "compound symmetry (SAS CS: common covariance + residual)", "mmrm",
    lambda K: 2, lambda lab: ["cs_covariance", "residual"],
    lambda v: np.array([np.log(np.mean(v)), _cs_rho_inv(0.3, len(v))]),
    lambda th, K: np.array([np.exp(th[0]) * _cs_rho(th[1], K), np.exp(th[0]) * (1 - _cs_rho(th[1], K))]),
    lambda phi, t: (phi[0] * np.ones((len(t), len(t))) + phi[1] * np.eye(len(t)), 0.0)))

_register(Structure(
    "csh", "heterogeneous compound symmetry (variance per visit, one correlation)", "mmrm",
    lambda K: K + 1, _het(lambda lab: ["rho"]),
    lambda v: np.concatenate([np.log(v), [_cs_rho_inv(0.3, len(v))]]),
    lambda th, K: np.concatenate([np.exp(th[:K]), [_cs_rho(th[K], K)]]),
    lambda phi, t: (_corr_from_vars(phi[:len(t)], phi[len(t)] + (1 - phi[len(t)]) * np.eye(len(t))), 0.0)))

_register(Structure(
    "ar1", "first-order autoregressive over visit order (SAS AR(1), Residual)", "mmrm",
    lambda K: 2, lambda lab: ["rho", "residual"],
    lambda v: np.array([np.arctanh(0.3), np.log(np.mean(v))]),
    lambda th, K: np.array([np.tanh(th[0]), np.exp(th[1])]),
    lambda phi, t: (phi[1] * phi[0] ** _lag(len(t)), 0.0), ordered=True))

_register(Structure(
    "ar1h", "heterogeneous AR(1) (variance per visit, SAS ARH(1))", "mmrm",
    lambda K: K + 1, _het(lambda lab: ["rho"]),
    lambda v: np.concatenate([np.log(v), [np.arctanh(0.3)]]),
    lambda th, K: np.concatenate([np.exp(th[:K]), [np.tanh(th[K])]]),
    lambda phi, t: (_corr_from_vars(phi[:len(t)], phi[len(t)] ** _lag(len(t))), 0.0), ordered=True))


def _toep_to_phi(th, K):
    s2 = np.exp(th[0])
    r = _dl_autocorr(np.tanh(th[1:]))
    return np.concatenate([s2 * r, [s2]])


def _toep_sigma(phi, t):
    K = len(t)
    c = np.concatenate([[phi[K - 1]], phi[: K - 1]])
    return _toeplitz(c, K), 0.0


_register(Structure(
    "toep", "Toeplitz: one covariance per lag (SAS TOEP(lag+1), Residual)", "mmrm",
    lambda K: K, lambda lab: [f"cov_lag{k}" for k in range(1, len(lab))] + ["residual"],
    lambda v: np.concatenate([[np.log(np.mean(v))], np.zeros(len(v) - 1)]),
    _toep_to_phi, _toep_sigma, ordered=True))


def _toeph_to_phi(th, K):
    return np.concatenate([np.exp(th[:K]), _dl_autocorr(np.tanh(th[K:]))])


def _toeph_sigma(phi, t):
    K = len(t)
    c = np.concatenate([[1.0], phi[K:]])
    return _corr_from_vars(phi[:K], _toeplitz(c, K)), 0.0


_register(Structure(
    "toeph", "heterogeneous Toeplitz: variance per visit, one correlation per lag", "mmrm",
    lambda K: 2 * K - 1, _het(lambda lab: _rho_names("rho_lag", len(lab) - 1)),
    lambda v: np.concatenate([np.log(v), np.zeros(len(v) - 1)]),
    _toeph_to_phi, _toeph_sigma, ordered=True))

_register(Structure(
    "ad", "first-order ante-dependence, homogeneous variance", "mmrm",
    lambda K: K, lambda lab: ["residual"] + _rho_names("rho", len(lab) - 1),
    lambda v: np.concatenate([[np.log(np.mean(v))], np.full(len(v) - 1, np.arctanh(0.3))]),
    lambda th, K: np.concatenate([[np.exp(th[0])], np.tanh(th[1:])]),
    lambda phi, t: (phi[0] * _ante_corr(phi[1:], len(t)), 0.0), ordered=True))

_register(Structure(
    "adh", "first-order ante-dependence, variance per visit (SAS ANTE(1))", "mmrm",
    lambda K: 2 * K - 1, _het(lambda lab: _rho_names("rho", len(lab) - 1)),
    lambda v: np.concatenate([np.log(v), np.full(len(v) - 1, np.arctanh(0.3))]),
    lambda th, K: np.concatenate([np.exp(th[:K]), np.tanh(th[K:])]),
    lambda phi, t: (_corr_from_vars(phi[: len(t)], _ante_corr(phi[len(t):], len(t))), 0.0), ordered=True))

_register(Structure(
    "ri", "random intercept: V = tau2 J + s2 I", "re",
    lambda K: 2, lambda lab: ["var(Intercept)", "residual"],
    lambda v: np.log(np.array([0.5, 0.5]) * np.mean(v)),
    lambda th, K: np.exp(th),
    lambda phi, t: (phi[0] * np.ones((len(t), len(t))), phi[1])))


def _ris_to_phi(th, K):
    l11, l21, l22 = np.exp(th[0]), th[1], np.exp(th[2])
    return np.array([l11 * l11, l11 * l21, l21 * l21 + l22 * l22, np.exp(th[3])])


def _ris_sigma(phi, t):
    Z = np.stack([np.ones(len(t)), np.asarray(t, dtype=float)], axis=1)
    G = np.array([[phi[0], phi[1]], [phi[1], phi[2]]])
    return Z @ G @ Z.T, phi[3]


def _ris_start(v):
    m = np.mean(v)
    return np.array([0.5 * np.log(0.5 * m), 0.0, 0.5 * np.log(0.01 * m), np.log(0.5 * m)])


_register(Structure(
    "ris", "random intercept and slope on time: V = Z G Z' + s2 I, G unstructured 2x2", "re",
    lambda K: 4, lambda lab: ["var(Intercept)", "cov(Intercept,time)", "var(time)", "residual"],
    _ris_start, _ris_to_phi, _ris_sigma))



def _risd_sigma(phi, t):
    t = np.asarray(t, dtype=float)
    return phi[0] * np.ones((len(t), len(t))) + phi[1] * np.outer(t, t), phi[2]


_register(Structure(
    "ris_diag", "uncorrelated random intercept and slope on time: V = Z diag(g0, g1) Z' + s2 I "
    "(lme4 (1 | id) + (0 + t | id))", "re",
    lambda K: 3, lambda lab: ["var(Intercept)", "var(time)", "residual"],
    lambda v: np.log(np.array([0.5, 0.01, 0.5]) * np.mean(v)),
    lambda th, K: np.exp(th), _risd_sigma))


def _sp_exp_sigma(phi, t):
    t = np.asarray(t, dtype=float)
    d = np.abs(t[:, None] - t[None, :])
    return phi[1] * np.exp(-d / phi[0]), 0.0


def _sp_exp_start(v, t_scale=1.0):
    return np.array([0.0, np.log(np.mean(v))])


_register(Structure(
    "sp_exp", "spatial exponential in the time distance: corr = exp(-|t_i - t_j| / range) "
    "(SAS SP(EXP), mmrm sp_exp, nlme corExp)", "spatial",
    lambda K: 2, lambda lab: ["range", "residual"], _sp_exp_start,
    lambda th, K: np.exp(th), _sp_exp_sigma))

#: The covariance table (read-only): structure name -> :class:`Structure`.
COVARIANCE_TABLE = MappingProxyType(_TABLE)


def get_structure(name: str) -> Structure:
    """Look up a structure of the covariance table.

    Examples
    --------
    >>> get_structure("ar1").n_par(4)
    2
    >>> get_structure("sp_gau")
    Traceback (most recent call last):
    ...
    KeyError: "covariance structure 'sp_gau' is not in the native core's table; supported: us, ind, cs, csh, ar1, ar1h, toep, toeph, ad, adh, ri, ris, ris_diag, sp_exp"
    """
    if name not in _TABLE:
        raise KeyError(
            f"covariance structure {name!r} is not in the native core's table; supported: {', '.join(_TABLE)}"
        )
    return _TABLE[name]


def sigma_of_theta(s: Structure, theta: np.ndarray, t: np.ndarray):
    """Covariance over positions and nugget for an optimisation vector ``theta``.

    Examples
    --------
    CS optimises ``theta = (log total variance, logit-type correlation)``; ``theta = (log 2, 0)``
    is a total variance of 2 split into a common covariance of 0.5 and a residual of 1.5:

    >>> S, nugget = sigma_of_theta(get_structure("cs"), np.array([np.log(2.0), 0.0]), np.arange(3.0))
    >>> S, nugget
    (array([[2. , 0.5, 0.5],
           [0.5, 2. , 0.5],
           [0.5, 0.5, 2. ]]), 0.0)
    """
    return s.sigma(s.to_phi(theta, len(t)), t)


def jacobian(fn: Callable[[np.ndarray], tuple[np.ndarray, object]], x: np.ndarray, h: float = 1e-20):
    """Complex-step derivatives of ``fn(x) -> (S, nugget)``: arrays (q, K, K) and (q,).

    Examples
    --------
    >>> f = lambda x: (x[0] * np.array([[1.0, x[1]], [x[1], 1.0]]), x[0] ** 2)
    >>> dS, dn = jacobian(f, np.array([2.0, 0.5]))
    >>> dS.tolist(), dn.tolist()
    ([[[1.0, 0.5], [0.5, 1.0]], [[0.0, 2.0], [2.0, 0.0]]], [4.0, 0.0])
    """
    x = np.asarray(x, dtype=float)
    dS, dn = [], []
    for a in range(len(x)):
        xc = x.astype(complex)
        xc[a] += 1j * h
        S, nug = fn(xc)
        dS.append(np.imag(np.asarray(S, dtype=complex)) / h)
        dn.append(float(np.imag(complex(nug))) / h)
    return np.array(dS), np.array(dn)


def hessian_sigma(fn, x: np.ndarray):
    """Second derivatives of ``fn(x) -> (S, nugget)`` by central differences of complex steps.

    Returns arrays (q, q, K, K) and (q, q).

    Examples
    --------
    >>> f = lambda x: (x[0] * np.array([[1.0, x[1]], [x[1], 1.0]]), x[0] ** 2)
    >>> d2S, d2n = hessian_sigma(f, np.array([2.0, 0.5]))
    >>> d2S[0, 1].round(6).tolist(), d2n.round(6).tolist()  # d2/dx0 dx1 of S; d2 nugget
    ([[0.0, 1.0], [1.0, 0.0]], [[2.0, 0.0], [0.0, 0.0]])
    """
    x = np.asarray(x, dtype=float)
    q = len(x)
    S0, _ = fn(x.astype(complex))
    K = np.asarray(S0).shape[0]
    d2S = np.zeros((q, q, K, K))
    d2n = np.zeros((q, q))
    j0, n0 = jacobian(fn, x)
    j1, n1 = jacobian(fn, x * 1.01 + 1e-3)
    if np.array_equal(j0, j1) and np.array_equal(n0, n1):  # linear in x (us, cs, toep, ri, ris, ind)
        return d2S, d2n
    for b in range(q):
        h = 1e-5 * max(abs(x[b]), 1e-3)
        xp, xm = x.copy(), x.copy()
        xp[b] += h
        xm[b] -= h
        sp, npl = jacobian(fn, xp)
        sm, nm = jacobian(fn, xm)
        d2S[:, b] = (sp - sm) / (2 * h)
        d2n[:, b] = (npl - nm) / (2 * h)
    return 0.5 * (d2S + d2S.transpose(1, 0, 2, 3)), 0.5 * (d2n + d2n.T)
