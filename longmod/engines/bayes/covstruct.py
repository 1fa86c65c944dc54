"""Residual covariance structures of the Bayesian MMRM, read from the native core's covariance table.

A structure is one entry of :data:`longmod.engines.core.covariance.COVARIANCE_TABLE`:
its ``sigma(phi, t)`` (the covariance over the visits as a function of the
natural, SAS-like parameters ``phi``) is the *same function* in both engines.
The Bayesian engine evaluates it on symbolic PyTensor scalars
(:func:`symbolic_sigma`: the NumPy code runs unchanged on an object array of
:class:`_Sym` wrappers), so adding a structure to the table needs here only a
prior for its parameters (:data:`PARAMETRISATIONS`): which parameters are SDs
(prior ``sigma``) and which correlations (prior ``correlation``), and how they
give ``phi``.

===========  ===============================================================
structure    sampled parameters (priors) -> ``phi`` of the table
===========  ===============================================================
``ind``      ``sd`` (sigma) -> ``[sd^2]``
``cs``       ``sd``, ``rho`` in ``(-1/(K-1), 1)`` -> ``[sd^2 rho, sd^2 (1 - rho)]``
``csh``      ``visit_sd`` (K), ``rho`` as ``cs`` -> ``[visit_sd^2, rho]``
``ar1``      ``sd``, ``rho`` in (-1, 1) -> ``[rho, sd^2]``
``ar1h``     ``visit_sd`` (K), ``rho`` -> ``[visit_sd^2, rho]``
``toep``     ``sd``, partial autocorrelations ``pacf`` (K-1) -> the table's
             ``to_phi`` (Durbin-Levinson, always positive definite)
``toeph``    ``visit_sd`` (K), ``pacf`` (K-1) -> the table's ``to_phi``
``ad``       ``sd``, ``rho`` (K-1) -> ``[sd^2, rho]``
``adh``      ``visit_sd`` (K), ``rho`` (K-1) -> ``[visit_sd^2, rho]``
``us``       ``visit_sd`` (K), LKJ correlation (K x K) -> the lower triangle
             of ``diag(sd) R diag(sd)``
===========  ===============================================================

Every SD has the ``sigma`` prior; ``us`` has the LKJ(eta) prior on its
correlation matrix; every other correlation (``rho``, each ``pacf`` and
ante-dependence ``rho``) has the LKJ(eta) marginal of a 2 x 2 matrix,
``2 Beta(eta, eta) - 1`` (for ``cs``/``csh`` stretched over the valid range
``lo + (1 - lo) Beta(eta, eta)``, ``lo = -1/(K-1)``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


class _Sym:
    """A PyTensor scalar that NumPy treats as a Python object (arrays of it have dtype object).

    Arithmetic with numbers or other ``_Sym`` returns ``_Sym``; with an ndarray
    it returns ``NotImplemented`` so NumPy applies the operation element by
    element. NumPy's math functions on object arrays call the methods of the
    same name (``sqrt``, ``exp``, ...).
    """

    __slots__ = ("v",)
    sqrt = exp = log = tanh = arctanh = sin = cos = expm1 = log1p = None  # set below: pt.<name>(v)
    __array_priority__ = -1000  # let ndarrays handle mixed operations element-wise

    def __init__(self, v: Any) -> None:
        self.v = v

    @staticmethod
    def _val(o: Any) -> Any:
        if isinstance(o, _Sym):
            return o.v
        if isinstance(o, (int, float, np.integer, np.floating)):
            return float(o)
        return None

    def _bin(self, o: Any, f: Callable[[Any, Any], Any]) -> Any:
        w = self._val(o)
        return NotImplemented if w is None else _Sym(f(self.v, w))

    def __add__(self, o): return self._bin(o, lambda a, b: a + b)  # noqa: E704
    def __radd__(self, o): return self._bin(o, lambda a, b: b + a)  # noqa: E704
    def __sub__(self, o): return self._bin(o, lambda a, b: a - b)  # noqa: E704
    def __rsub__(self, o): return self._bin(o, lambda a, b: b - a)  # noqa: E704
    def __mul__(self, o): return self._bin(o, lambda a, b: a * b)  # noqa: E704
    def __rmul__(self, o): return self._bin(o, lambda a, b: b * a)  # noqa: E704
    def __truediv__(self, o): return self._bin(o, lambda a, b: a / b)  # noqa: E704
    def __rtruediv__(self, o): return self._bin(o, lambda a, b: b / a)  # noqa: E704
    def __pow__(self, o): return self._bin(o, lambda a, b: a**b)  # noqa: E704
    def __rpow__(self, o): return self._bin(o, lambda a, b: b**a)  # noqa: E704
    def __neg__(self): return _Sym(-self.v)  # noqa: E704
    def __pos__(self): return self  # noqa: E704
    def __abs__(self): return _Sym(abs(self.v))  # noqa: E704



def _sym_method(name: str) -> Any:
    def method(self: _Sym) -> _Sym:
        import pytensor.tensor as pt

        return _Sym(getattr(pt, name)(self.v))

    method.__name__ = name
    return method


for _name in ("sqrt", "exp", "log", "tanh", "arctanh", "sin", "cos", "expm1", "log1p"):
    setattr(_Sym, _name, _sym_method(_name))


def _as_tensor(x: Any) -> Any:
    import pytensor.tensor as pt

    if isinstance(x, _Sym):
        return pt.as_tensor_variable(x.v)
    if isinstance(x, np.ndarray) and x.dtype == object:
        flat = [_as_tensor(e) for e in x.ravel()]
        return pt.stack(flat).reshape(x.shape) if flat else pt.zeros(x.shape)
    return pt.as_tensor_variable(np.asarray(x, dtype=float) if not hasattr(x, "owner") else x)


def _sym_vector(phi: Any, q: int) -> np.ndarray:
    out = np.empty(q, dtype=object)
    for i in range(q):
        out[i] = _Sym(phi[i])
    return out


def symbolic_sigma(structure: Any, phi: Any, t: np.ndarray) -> tuple[Any, Any]:
    """``structure.sigma(phi, t)`` of the covariance table evaluated on a PyTensor vector ``phi``.

    Returns
    -------
    (S, nugget) : PyTensor tensors, ``K x K`` and scalar.

    Examples
    --------
    >>> import numpy as np, pytensor.tensor as pt
    >>> from longmod.engines.core.covariance import get_structure
    >>> phi = pt.vector("phi", shape=(2,))
    >>> S, _ = symbolic_sigma(get_structure("ar1"), phi, np.arange(1.0, 4.0))
    >>> S.eval({phi: np.array([0.5, 4.0])}).tolist()
    [[4.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 4.0]]
    """
    t = np.asarray(t, dtype=float)
    S, nug = structure.sigma(_sym_vector(phi, structure.n_par(len(t))), t)
    return _as_tensor(S), _as_tensor(nug)


def symbolic_to_phi(structure: Any, theta: Any, K: int) -> Any:
    """``structure.to_phi(theta, K)`` of the table on a PyTensor vector ``theta`` (a PyTensor vector).

    Examples
    --------
    >>> phi = symbolic_to_phi(...)  # doctest: +SKIP
    """
    phi = structure.to_phi(_sym_vector(theta, structure.n_par(K)), K)
    return _as_tensor(np.asarray(phi, dtype=object))


@dataclass(frozen=True)
class CovarianceGraph:
    """What a parametrisation builds: the table's ``phi`` and, when it has one directly, a Cholesky factor.

    ``cholesky`` is a lower-triangular ``L`` with ``L L' = sigma(phi, t)`` and a positive diagonal (the
    factor the structure was built from, ``us``: ``diag(visit_sd) L_corr``); the likelihood then uses it
    rather than re-factorising the table's ``sigma(phi, t)``: the same matrix without the round trip
    ``L -> S -> phi -> S -> cholesky(S)`` in every gradient. ``None`` for the other structures.

    Examples
    --------
    >>> CovarianceGraph(phi=None).cholesky is None
    True
    """

    phi: Any
    cholesky: Any = None


@dataclass(frozen=True)
class Parametrisation:
    """How the Bayesian MMRM samples one structure's parameters (see the module table).

    Examples
    --------
    >>> PARAMETRISATIONS["ar1"].diagnostics
    ('sd', 'rho')
    """

    name: str
    #: ``build(K, t, rv) -> CovarianceGraph``: creates the PyMC variables in the current model
    build: Callable[..., CovarianceGraph]
    #: posterior variables that hold the structure's SDs / correlations (diagnostics)
    diagnostics: tuple[str, ...]


def _corr_2x2(rv: Any, name: str, shape: int | None, eta: Any, lo: float = -1.0) -> Any:
    """A correlation with the LKJ(eta) 2 x 2 marginal: ``lo + (1 - lo) Beta(eta, eta)``."""
    u = rv.beta(f"{name}_beta", eta, shape)
    return lo + (1.0 - lo) * u


def _build_scalar_corr(kind: str):
    def phi(K: int, t: np.ndarray, rv: Any) -> Any:
        import pytensor.tensor as pt

        het = kind.endswith("h")
        sd = rv.scale("visit_sd" if het else "sd", K if het else None)
        var = sd**2
        if kind in ("cs", "csh"):
            lo = -1.0 / max(K - 1, 1)
            rho = rv.deterministic("rho", _corr_2x2(rv, "rho", None, rv.eta, lo))
            if kind == "cs":
                return pt.stack([var * rho, var * (1.0 - rho)])
            return pt.concatenate([var, rho[None]])
        if kind in ("ar1", "ar1h"):
            rho = rv.deterministic("rho", _corr_2x2(rv, "rho", None, rv.eta))
            return pt.stack([rho, var]) if kind == "ar1" else pt.concatenate([var, rho[None]])
        if kind in ("ad", "adh"):
            rho = rv.deterministic("rho", _corr_2x2(rv, "rho", K - 1, rv.eta))
            return pt.concatenate([var[None] if kind == "ad" else var, rho])
        if kind in ("toep", "toeph"):
            from longmod.engines.core.covariance import get_structure

            pacf = rv.deterministic("pacf", _corr_2x2(rv, "pacf", K - 1, rv.eta))
            theta = pt.concatenate([pt.log(var)[None] if kind == "toep" else pt.log(var), pt.arctanh(pacf)])
            return symbolic_to_phi(get_structure(kind), theta, K)
        if kind == "ind":
            return var[None]
        raise KeyError(kind)  # pragma: no cover

    return lambda K, t, rv: CovarianceGraph(phi(K, t, rv))


def _build_us(K: int, t: np.ndarray, rv: Any) -> Any:
    from longmod.engines.bayes.lkj import lkj_corr_cholesky

    sd = rv.scale("visit_sd", K)
    Lc = lkj_corr_cholesky("visit_corr", K, rv.eta)
    rv.deterministic("visit_corr", Lc @ Lc.T)
    L = sd[:, None] * Lc
    S = L @ L.T
    r, c = np.tril_indices(K)
    order = sorted(range(len(r)), key=lambda k: (r[k], c[k]))  # the table's order: row-major lower triangle
    return CovarianceGraph(S[r[order], c[order]], cholesky=L)


_DIAG = {"ind": ("sd",), "cs": ("sd", "rho"), "csh": ("visit_sd", "rho"), "ar1": ("sd", "rho"),
         "ar1h": ("visit_sd", "rho"), "toep": ("sd", "pacf"), "toeph": ("visit_sd", "pacf"), "ad": ("sd", "rho"),
         "adh": ("visit_sd", "rho"), "us": ("visit_sd", "visit_corr")}

#: Structure name (a key of the covariance table) -> its Bayesian parametrisation.
PARAMETRISATIONS: Mapping[str, Parametrisation] = {
    name: Parametrisation(name, _build_us if name == "us" else _build_scalar_corr(name), _DIAG[name])
    for name in ("us", "ind", "cs", "csh", "ar1", "ar1h", "toep", "toeph", "ad", "adh")
}


def bayes_structures() -> tuple[str, ...]:
    """Structures of the covariance table the Bayesian MMRM supports (table order).

    Examples
    --------
    >>> bayes_structures()[:4]
    ('us', 'ind', 'cs', 'csh')
    """
    from longmod.engines.core.covariance import COVARIANCE_TABLE

    return tuple(n for n, s in COVARIANCE_TABLE.items() if s.kind == "mmrm" and n in PARAMETRISATIONS)


def check_structure(name: str, model: str) -> Any:
    """The table entry of ``name`` if the Bayesian MMRM supports it, else a clear error.

    Examples
    --------
    >>> check_structure("ar1", "m").name
    'ar1'
    """
    from longmod.engines.core.covariance import COVARIANCE_TABLE

    ok = bayes_structures()
    if name not in ok:
        where = "is not in the covariance table" if name not in COVARIANCE_TABLE else "has no Bayesian prior yet"
        raise ValueError(f"model {model!r}: covariance {name!r} {where}; the Bayesian MMRM supports "
                         f"{', '.join(ok)} (and ri, ris as random-effects LMMs)")
    return COVARIANCE_TABLE[name]


def phi_names(structure: Any, visits: Any) -> list[str]:
    """Names of ``phi`` from the table (``var(D1)``, ``rho``, ...).

    Examples
    --------
    >>> phi_names(check_structure("cs", "m"), ["D3", "D7"])  # doctest: +SKIP
    """
    return list(structure.names([str(v) for v in visits]))


def sigma_draws(structure: Any, phi: np.ndarray, t: np.ndarray) -> np.ndarray:
    """NumPy covariance matrices ``(..., K, K)`` from draws of ``phi`` (``(..., q)``) via the table.

    Examples
    --------
    >>> sigma_draws(check_structure("ar1", "m"), phi, np.array([1.0, 2.0, 3.0])).shape  # doctest: +SKIP
    """
    phi = np.asarray(phi, dtype=float)
    flat = phi.reshape(-1, phi.shape[-1])
    K = len(t)
    out = np.empty((len(flat), K, K))
    for i, ph in enumerate(flat):
        S, nug = structure.sigma(ph, t)
        out[i] = np.asarray(S, dtype=float) + float(np.real(nug)) * np.eye(K)
    return out.reshape(phi.shape[:-1] + (K, K))


LOG_2PI = math.log(2.0 * math.pi)
