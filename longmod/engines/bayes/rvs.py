"""PyMC variables from resolved priors; prior hyper-parameters enter as data.

Every hyper-parameter (``mu``, ``sigma``, ``nu``, ``rate``, ``eta``) is a
``pm.Data`` container named ``prior__<variable>__<parameter>``, so the compiled
model depends on the prior *families* only: one compiled graph serves every
prior scale, and nutpie refreshes the values with ``with_data``
(:meth:`PriorVariables.data`). The families are part of the compile-cache key
(:meth:`PriorVariables.signature`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from longmod.engines.bayes.priors import Prior, ResolvedPriors


class PriorVariables:
    """Factory of the model's random variables, used inside a ``pm.Model`` context.

    Parameters
    ----------
    priors : ResolvedPriors
    scale_prior : Prior, optional
        Prior of the SDs created with :meth:`scale` (default ``priors.sigma``).

    Examples
    --------
    >>> rv = PriorVariables(resolve_priors({}, ["(Intercept)", "x"], mcid=20.0))  # doctest: +SKIP
    """

    def __init__(self, priors: ResolvedPriors, scale_prior: Prior | None = None) -> None:
        self.priors = priors
        self.scale_prior = scale_prior or priors.sigma
        self._data: dict[str, np.ndarray] = {}
        self._families: list[tuple[str, str]] = []
        self._eta = None

    # -- hyper-parameters as data ------------------------------------------------
    def _hyper(self, var: str, key: str, value: Any) -> Any:
        import pymc as pm

        name = f"prior__{var}__{key}"
        arr = np.asarray(value, dtype=float)
        self._data[name] = arr
        return pm.Data(name, arr)

    def data(self) -> dict[str, np.ndarray]:
        """Values of every hyper-parameter container (for ``with_data``)."""
        return dict(self._data)

    def signature(self) -> tuple[tuple[str, str], ...]:
        """(variable, family) pairs: what the compiled graph depends on."""
        return tuple(self._families)

    @property
    def eta(self) -> Any:
        """LKJ ``eta`` of the correlation prior (a data container, created once)."""
        if self._eta is None:
            self._eta = self._hyper("correlation", "eta", self.priors.correlation["eta"])
        return self._eta

    # -- variables -----------------------------------------------------------------
    def coefficients(self, name: str, priors: Sequence[Prior], dims: str | None = None,
                     shape: int | None = None) -> Any:
        """A vector of coefficients, one prior each; one PyMC variable per family.

        With one family the variable is ``name``; with several, ``name__<family>``
        variables are concatenated in column order (a ``pm.Deterministic``
        ``name`` is *not* created: the caller names what it needs).
        """
        import pymc as pm
        import pytensor.tensor as pt

        fams = list(dict.fromkeys(p.family for p in priors))
        parts, where = [], []
        for fam in fams:
            idx = [i for i, p in enumerate(priors) if p.family == fam]
            var = name if len(fams) == 1 else f"{name}__{fam}"
            self._families.append((var, fam))
            sel = [priors[i] for i in idx]
            hp = {k: self._hyper(var, k, [p[k] for p in sel]) for k, _ in sel[0].params}
            kw = {"dims": dims} if (dims and len(fams) == 1) else {"shape": len(idx)}
            if fam == "normal":
                parts.append(pm.Normal(var, mu=hp["mu"], sigma=hp["sigma"], **kw))
            elif fam == "student_t":
                parts.append(pm.StudentT(var, nu=hp["nu"], mu=hp["mu"], sigma=hp["sigma"], **kw))
            else:  # pragma: no cover - parse_prior only admits the two families
                raise ValueError(fam)
            where.extend(idx)
        if len(parts) == 1:
            return parts[0]
        perm = np.argsort(where)
        return pt.concatenate(parts)[perm]

    def scale(self, name: str, shape: int | None = None, prior: Prior | None = None) -> Any:
        """An SD (or a vector of SDs) with ``prior`` (default: this factory's scale prior)."""
        import pymc as pm

        p = prior or self.scale_prior
        self._families.append((name, p.family))
        kw = {} if shape is None else {"shape": shape}
        if p.family == "half_normal":
            return pm.HalfNormal(name, sigma=self._hyper(name, "sigma", p["sigma"]), **kw)
        if p.family == "half_t":
            return pm.HalfStudentT(name, nu=self._hyper(name, "nu", p["nu"]), sigma=self._hyper(name, "sigma", p["sigma"]),
                                   **kw)
        if p.family == "exponential":
            return pm.Exponential(name, lam=self._hyper(name, "rate", p["rate"]), **kw)
        raise ValueError(p.family)  # pragma: no cover

    def beta(self, name: str, eta: Any, shape: int | None) -> Any:
        """``Beta(eta, eta)`` (the building block of 2 x 2 LKJ marginals)."""
        import pymc as pm

        self._families.append((name, "beta"))
        return pm.Beta(name, alpha=eta, beta=eta, **({} if shape is None else {"shape": shape}))

    @staticmethod
    def deterministic(name: str, x: Any, dims: Any = None) -> Any:
        """``pm.Deterministic`` (a named, reported quantity)."""
        import pymc as pm

        return pm.Deterministic(name, x, dims=dims)
