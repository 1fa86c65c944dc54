"""Priors of the Bayesian regression models, declared in ``ModelSpec.priors``.

Every default is on the *clinical scale of the outcome* and is derived from one
number, ``scale``: a typical between-patient SD of the outcome in its own
units. ``scale`` comes from ``priors.scale`` when given, else it is
``5 x MCID`` (``MCID`` from ``spec.mcid``, default 20 mmHg for PaO2/FiO2, so
``scale = 100`` mmHg). **The outcome's SD in the data is never used**: no
prior is silently tuned to the data being analysed. The source of ``scale``
is recorded in the result (``priors_used["scale_source"]``).

Defaults (all normal / half-normal, in outcome units per unit of the
covariate):

============================  ==========================================
parameter                     default prior
============================  ==========================================
intercept                     ``N(0, (10 x scale)^2)`` (applies to the
                              outcome mean at the covariate means:
                              covariates are centred internally)
treatment coefficient(s)      ``N(0, (2.5 x scale)^2)``
other coefficients            ``N(0, (2.5 x scale)^2)``
residual SD ``sigma``         ``HalfNormal(2.5 x scale)``
random-intercept SD           ``HalfNormal(2.5 x scale)``
random-slope SD               ``HalfNormal(scale)`` per unit of ``time``
LKJ correlation               ``LKJ(eta = 2)``
============================  ==========================================

With ``scale = 100`` mmHg the treatment prior has SD 250 mmHg, i.e. it puts
~94% mass on ``|effect| < 450`` mmHg: weakly informative, and the posterior of
a 100-patient trial is driven by the data.

TOML form (``[model.priors]``; every key optional)::

    scale = 100.0
    intercept = { mu = 0.0, sigma = 1000.0 }
    treatment = { mu = 0.0, sigma = 250.0 }
    coefficients = { mu = 0.0, sigma = 250.0 }
    terms = { baseline = { mu = 0.0, sigma = 5.0 } }   # by design column name
    sigma = { sigma = 250.0 }
    random_intercept_sd = { sigma = 250.0 }
    random_slope_sd = { sigma = 100.0 }
    lkj_eta = 2.0
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

PRIOR_KEYS: tuple[str, ...] = (
    "scale", "intercept", "treatment", "coefficients", "terms", "sigma",
    "random_intercept_sd", "random_slope_sd", "lkj_eta",
)
DEFAULT_MCID: float = 20.0


class PriorError(ValueError):
    """A prior declaration names an unknown key or an invalid value."""


def _normal(d: Any, where: str, mu: float, sigma: float) -> tuple[float, float]:
    if d is None:
        return mu, sigma
    if not isinstance(d, Mapping):
        raise PriorError(f"prior {where} must be a table like {{ mu = 0.0, sigma = 10.0 }}, got {d!r}")
    bad = [k for k in d if k not in ("mu", "sigma")]
    if bad:
        raise PriorError(f"prior {where}: unknown key(s) {', '.join(bad)}; valid: mu, sigma")
    mu, sigma = float(d.get("mu", mu)), float(d.get("sigma", sigma))
    if not sigma > 0:
        raise PriorError(f"prior {where}: sigma must be > 0, got {sigma}")
    return mu, sigma


def _half(d: Any, where: str, sigma: float) -> float:
    if d is None:
        return sigma
    if not isinstance(d, Mapping) or any(k != "sigma" for k in d):
        raise PriorError(f"prior {where} must be a table like {{ sigma = 10.0 }}, got {d!r}")
    s = float(d.get("sigma", sigma))
    if not s > 0:
        raise PriorError(f"prior {where}: sigma must be > 0, got {s}")
    return s


def resolve_priors(
    priors: Mapping[str, Any] | None,
    columns: Sequence[str],
    treatment_columns: Sequence[str],
    *,
    mcid: float | None,
) -> dict[str, Any]:
    """Turn ``spec.priors`` into the numbers the PyMC models use.

    Parameters
    ----------
    priors : mapping, optional
        ``ModelSpec.priors`` (keys in :data:`PRIOR_KEYS`).
    columns : sequence of str
        Design-matrix column names (R style, ``"(Intercept)"`` first if any).
    treatment_columns : sequence of str
        Columns that carry the treatment effect.
    mcid : float, optional
        ``spec.mcid``; default :data:`DEFAULT_MCID`.

    Returns
    -------
    dict
        ``scale``, ``scale_source``, ``beta_mu`` and ``beta_sigma`` (lists,
        one per column), ``sigma`` (half-normal scale of the residual SD),
        ``random_intercept_sd``, ``random_slope_sd``, ``lkj_eta``.

    Examples
    --------
    >>> p = resolve_priors({}, ["(Intercept)", "armactive", "baseline"], ["armactive"], mcid=20.0)
    >>> p["scale"], p["scale_source"], p["beta_sigma"]
    (100.0, '5 x mcid (mcid = 20)', [1000.0, 250.0, 250.0])
    >>> resolve_priors({"scal": 1}, ["x"], [], mcid=None)
    Traceback (most recent call last):
    ...
    longmod.engines.bayes.priors.PriorError: unknown prior key(s) scal; valid: scale, intercept, treatment, coefficients, terms, sigma, random_intercept_sd, random_slope_sd, lkj_eta
    """
    priors = dict(priors or {})
    unknown = [k for k in priors if k not in PRIOR_KEYS]
    if unknown:
        raise PriorError(f"unknown prior key(s) {', '.join(unknown)}; valid: {', '.join(PRIOR_KEYS)}")
    mcid = DEFAULT_MCID if mcid is None else float(mcid)
    if "scale" in priors:
        scale, source = float(priors["scale"]), "spec.priors.scale"
        if not scale > 0:
            raise PriorError(f"prior scale must be > 0, got {scale}")
    else:
        scale, source = 5.0 * mcid, f"5 x mcid (mcid = {mcid:g})"
    terms = dict(priors.get("terms") or {})
    missing = [t for t in terms if t not in columns]
    if missing:
        raise PriorError(f"priors.terms name column(s) {', '.join(missing)} not in the design; columns: {', '.join(columns)}")
    mu, sd = [], []
    for c in columns:
        if c in terms:
            m, s = _normal(terms[c], f"terms.{c}", 0.0, 2.5 * scale)
        elif c == "(Intercept)":
            m, s = _normal(priors.get("intercept"), "intercept", 0.0, 10.0 * scale)
        elif c in treatment_columns:
            m, s = _normal(priors.get("treatment"), "treatment", 0.0, 2.5 * scale)
        else:
            m, s = _normal(priors.get("coefficients"), "coefficients", 0.0, 2.5 * scale)
        mu.append(m)
        sd.append(s)
    eta = float(priors.get("lkj_eta", 2.0))
    if not eta > 0:
        raise PriorError(f"lkj_eta must be > 0, got {eta}")
    return {
        "scale": scale,
        "scale_source": source,
        "columns": list(columns),
        "beta_mu": mu,
        "beta_sigma": sd,
        "sigma": _half(priors.get("sigma"), "sigma", 2.5 * scale),
        "random_intercept_sd": _half(priors.get("random_intercept_sd"), "random_intercept_sd", 2.5 * scale),
        "random_slope_sd": _half(priors.get("random_slope_sd"), "random_slope_sd", scale),
        "lkj_eta": eta,
    }


def centre_columns(X: np.ndarray, columns: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Centre every non-intercept column (returns the centred copy and the means).

    The intercept of the centred design is the outcome mean at the covariate
    means; ``beta_0 = alpha - means @ beta`` recovers the R-style intercept.

    Examples
    --------
    >>> import numpy as np
    >>> Xc, m = centre_columns(np.array([[1.0, 2.0], [1.0, 4.0]]), ["(Intercept)", "x"])
    >>> Xc.tolist(), m.tolist()
    ([[1.0, -1.0], [1.0, 1.0]], [0.0, 3.0])
    """
    means = np.array([0.0 if c == "(Intercept)" else float(X[:, j].mean()) for j, c in enumerate(columns)])
    return X - means[None, :], means
