"""Priors of the Bayesian models, declared in ``ModelSpec.priors``: families, defaults, validation.

Every default is on the *clinical scale of the outcome* and is derived from one
number, ``scale``: a typical between-patient SD of the outcome in its own
units. ``scale`` comes from ``priors.scale`` when given, else it is
``5 x MCID`` (``MCID`` from ``spec.mcid``, default 20, so ``scale = 100``).
**The outcome's SD in the data is never used**: no prior is silently tuned to
the data being analysed. The source of ``scale`` is recorded in the result
(``priors_used["scale_source"]``).

What "the treatment prior" means
--------------------------------
``treatment`` is the prior of **the per-visit treatment contrast at every
visit** (active minus reference, emmeans-style with equal weights over the
other factors: :func:`longmod.engines.core.prepare.effect_grid`), not of a
design coefficient. The Bayesian models are parametrised so that these
contrasts *are* parameters (:mod:`longmod.engines.bayes.design`), so a declared
``treatment = { dist = "normal", mu = 0, sigma = 10 }`` gives every visit's
contrast exactly that prior (the docs page "Bayesian models as declared" shows
the prior-predictive check). A design whose contrasts cannot all carry the
declared prior (e.g. ``arm * day`` with ``day`` numeric over three or more
visits: the contrasts lie on a line) is refused when ``treatment`` is
declared; with the default, the treatment coefficients get the coefficient
prior and ``priors_used["treatment_prior_on"]`` says so.

Families
--------
===================  ==============================  ============================
kind                 families (``dist = ...``)       parameters
===================  ==============================  ============================
coefficients         ``normal``, ``student_t``       ``mu``, ``sigma`` (+ ``nu``)
scales (SDs)         ``half_normal``, ``half_t``,    ``sigma`` (+ ``nu``);
                     ``exponential``                 ``rate`` (mean ``1/rate``)
correlations         ``lkj``                         ``eta``
===================  ==============================  ============================

A table without ``dist`` is ``normal`` (coefficients) or ``half_normal``
(scales). Unknown keys, families or parameters are errors that list the valid
ones: a prior that is not what the user declared cannot happen.

Defaults
--------
====================================  ===========================================
parameter                             default prior
====================================  ===========================================
intercept (outcome mean at the        ``normal(0, 10 x scale)``
covariate means; covariates centred)
treatment: per-visit contrast         ``normal(0, 2.5 x scale)``
other coefficients                    ``normal(0, 2.5 x scale)``
residual SD(s) ``sigma`` (the visit   ``half_normal(2.5 x scale)``
SDs of an MMRM structure)
random-intercept SD                   ``half_normal(2.5 x scale)``
random-slope SD                       ``half_normal(scale)`` per unit of ``time``
correlations                          ``lkj(eta = 2)``: an LKJ matrix prior for
                                      ``us`` and the random effects; for a single
                                      correlation (``ar1``, ``cs``) and for each
                                      partial / lag correlation (``toep``,
                                      ``ad``) the LKJ(eta) marginal of a 2 x 2
                                      matrix, ``2 Beta(eta, eta) - 1``
====================================  ===========================================

With ``scale = 100`` mmHg the treatment prior has SD 250 mmHg: weakly
informative, and the posterior of a 100-patient trial is driven by the data.

TOML form (``[model.priors]``; every key optional)::

    scale = 100.0
    intercept = { mu = 0.0, sigma = 1000.0 }
    treatment = { dist = "student_t", nu = 3, mu = 0.0, sigma = 50.0 }
    coefficients = { mu = 0.0, sigma = 250.0 }
    terms = { baseline = { mu = 0.0, sigma = 5.0 } }   # by design column name
    sigma = { dist = "half_t", nu = 3, sigma = 250.0 }
    random_intercept_sd = { sigma = 250.0 }
    random_slope_sd = { dist = "exponential", rate = 0.01 }
    correlation = { dist = "lkj", eta = 2.0 }          # or the shorthand lkj_eta = 2.0
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PRIOR_KEYS: tuple[str, ...] = (
    "scale", "intercept", "treatment", "coefficients", "terms", "sigma",
    "random_intercept_sd", "random_slope_sd", "correlation", "lkj_eta",
)
DEFAULT_MCID: float = 20.0

#: family -> its parameters (required unless a default is given in _FAMILY_DEFAULTS)
COEFFICIENT_FAMILIES: Mapping[str, tuple[str, ...]] = {"normal": ("mu", "sigma"), "student_t": ("nu", "mu", "sigma")}
SCALE_FAMILIES: Mapping[str, tuple[str, ...]] = {
    "half_normal": ("sigma",), "half_t": ("nu", "sigma"), "exponential": ("rate",),
}
CORRELATION_FAMILIES: Mapping[str, tuple[str, ...]] = {"lkj": ("eta",)}
_KIND_FAMILIES = {"coefficient": COEFFICIENT_FAMILIES, "scale": SCALE_FAMILIES, "correlation": CORRELATION_FAMILIES}
_KIND_DEFAULT_FAMILY = {"coefficient": "normal", "scale": "half_normal", "correlation": "lkj"}
_POSITIVE = {"sigma", "nu", "rate", "eta"}


class PriorError(ValueError):
    """A prior declaration names an unknown key, family or parameter, or an invalid value.

    Examples
    --------
    >>> parse_prior({"dist": "gauss", "sigma": 10}, "treatment", "coefficient", Prior("normal", (("mu", 0.0), ("sigma", 1.0))))
    Traceback (most recent call last):
    ...
    longmod.engines.bayes.priors.PriorError: prior treatment: unknown family 'gauss' for a coefficient; valid: ...
    """


@dataclass(frozen=True)
class Prior:
    """One prior distribution: a family and its parameters (a frozen, hashable record).

    Examples
    --------
    >>> p = Prior("student_t", (("nu", 3.0), ("mu", 0.0), ("sigma", 10.0)))
    >>> p.describe(), p["sigma"]
    ('student_t(nu=3, mu=0, sigma=10)', 10.0)
    >>> round(Prior("normal", (("mu", 0.0), ("sigma", 10.0))).sd(), 6)
    10.0
    """

    family: str
    params: tuple[tuple[str, float], ...]

    def __getitem__(self, key: str) -> float:
        return dict(self.params)[key]

    def describe(self) -> str:
        """``family(p=v, ...)`` as declared."""
        return f"{self.family}(" + ", ".join(f"{k}={v:g}" for k, v in self.params) + ")"

    def sd(self) -> float:
        """SD of the distribution (``inf`` for a Student-t with ``nu <= 2``)."""
        p = dict(self.params)
        if self.family == "normal":
            return p["sigma"]
        if self.family == "student_t":
            return p["sigma"] * math.sqrt(p["nu"] / (p["nu"] - 2.0)) if p["nu"] > 2 else math.inf
        if self.family == "half_normal":
            return p["sigma"] * math.sqrt(1.0 - 2.0 / math.pi)
        if self.family == "exponential":
            return 1.0 / p["rate"]
        raise PriorError(f"no closed-form SD for the {self.family} prior")


def parse_prior(decl: Any, where: str, kind: str, default: Prior) -> Prior:
    """Validate one declared prior table against the families of ``kind``.

    Parameters
    ----------
    decl : mapping or None
        E.g. ``{"dist": "half_t", "nu": 3, "sigma": 10}``; ``None`` gives ``default``.
        Parameters not given take ``default``'s value of the same name (``mu``,
        ``sigma``); others (``nu``, ``rate``, ``eta``) must be given.
    where : str
        The key, for messages (``"treatment"``, ``"terms.baseline"``).
    kind : {"coefficient", "scale", "correlation"}
    default : Prior

    Examples
    --------
    >>> d = Prior("normal", (("mu", 0.0), ("sigma", 250.0)))
    >>> parse_prior({"sigma": 10}, "treatment", "coefficient", d).describe()
    'normal(mu=0, sigma=10)'
    >>> parse_prior({"dist": "cauchy"}, "treatment", "coefficient", d)
    Traceback (most recent call last):
    ...
    longmod.engines.bayes.priors.PriorError: prior treatment: unknown family 'cauchy' for a coefficient; valid: normal, student_t
    >>> parse_prior({"dist": "student_t", "sigma": 10}, "treatment", "coefficient", d)
    Traceback (most recent call last):
    ...
    longmod.engines.bayes.priors.PriorError: prior treatment: student_t needs nu (parameters: nu, mu, sigma)
    >>> parse_prior({"dist": "student_t", "nu": 3}, "treatment", "coefficient", d).describe()
    'student_t(nu=3, mu=0, sigma=250)'
    """
    families = _KIND_FAMILIES[kind]
    if decl is None:
        return default
    if not isinstance(decl, Mapping):
        example = {"coefficient": '{ dist = "normal", mu = 0.0, sigma = 10.0 }',
                   "scale": '{ dist = "half_normal", sigma = 10.0 }',
                   "correlation": '{ dist = "lkj", eta = 2.0 }'}[kind]
        raise PriorError(f"prior {where} must be a table like {example}, got {decl!r}")
    family = str(decl.get("dist", _KIND_DEFAULT_FAMILY[kind]))
    if family not in families:
        raise PriorError(f"prior {where}: unknown family {family!r} for a {kind}; valid: {', '.join(families)}")
    names = families[family]
    bad = [k for k in decl if k != "dist" and k not in names]
    if bad:
        raise PriorError(f"prior {where}: unknown key(s) {', '.join(map(str, bad))} for {family}; "
                         f"valid: dist, {', '.join(names)}")
    base = dict(default.params)  # parameters not given: the default's (same name), e.g. sigma of half_t
    values = {}
    for k in names:
        if k in decl:
            v = decl[k]
        elif k in base:
            v = base[k]
        else:
            raise PriorError(f"prior {where}: {family} needs {k} (parameters: {', '.join(names)})")
        try:
            v = float(v)
        except (TypeError, ValueError):
            raise PriorError(f"prior {where}: {k} must be a number, got {v!r}") from None
        if not math.isfinite(v) or (k in _POSITIVE and not v > 0):
            raise PriorError(f"prior {where}: {k} must be {'> 0' if k in _POSITIVE else 'finite'}, got {v}")
        values[k] = v
    return Prior(family, tuple((k, values[k]) for k in names))


def _normal(mu: float, sigma: float) -> Prior:
    return Prior("normal", (("mu", float(mu)), ("sigma", float(sigma))))


def _half_normal(sigma: float) -> Prior:
    return Prior("half_normal", (("sigma", float(sigma)),))


@dataclass(frozen=True)
class ResolvedPriors:
    """The priors a model uses, one :class:`Prior` per parameter block.

    Attributes
    ----------
    scale, scale_source : float, str
    intercept, treatment : Prior
        ``treatment`` is the prior of every per-visit contrast.
    coefficients : dict
        Design column -> Prior for every column that is neither the intercept
        nor a per-visit contrast (covariates, visit effects, extra treatment
        interactions).
    sigma, random_intercept_sd, random_slope_sd, correlation : Prior
    treatment_declared : bool
        Whether the user declared ``treatment`` (else the default is used).

    Examples
    --------
    >>> p = resolve_priors({"treatment": {"sigma": 10}}, ["(Intercept)", "armB"], contrast_columns=["armB"], mcid=20.0)
    >>> p.treatment.describe()
    'normal(mu=0, sigma=10)'
    """

    scale: float
    scale_source: str
    intercept: Prior
    treatment: Prior
    coefficients: Mapping[str, Prior]
    sigma: Prior
    random_intercept_sd: Prior
    random_slope_sd: Prior
    correlation: Prior
    treatment_declared: bool

    def as_dict(self) -> dict[str, Any]:
        """Plain description for ``FitResult.extras["priors"]`` and the InferenceData attrs."""
        return {
            "scale": self.scale, "scale_source": self.scale_source,
            "intercept": self.intercept.describe(), "treatment": self.treatment.describe(),
            "coefficients": {k: v.describe() for k, v in self.coefficients.items()},
            "sigma": self.sigma.describe(), "random_intercept_sd": self.random_intercept_sd.describe(),
            "random_slope_sd": self.random_slope_sd.describe(), "correlation": self.correlation.describe(),
        }


def resolve_priors(
    priors: Mapping[str, Any] | None,
    columns: Sequence[str],
    *,
    contrast_columns: Sequence[str] = (),
    mcid: float | None,
) -> ResolvedPriors:
    """Validate ``spec.priors`` and fill in the documented defaults.

    Parameters
    ----------
    priors : mapping, optional
        ``ModelSpec.priors`` (keys in :data:`PRIOR_KEYS`).
    columns : sequence of str
        Design column names (R style, ``"(Intercept)"`` first if any).
    contrast_columns : sequence of str
        Columns replaced by the per-visit contrasts in the Bayesian
        parametrisation (:func:`longmod.engines.bayes.design.contrast_design`);
        their prior is ``treatment``, so ``terms`` may not name them.
    mcid : float, optional
        ``spec.mcid``; default :data:`DEFAULT_MCID`.

    Examples
    --------
    >>> p = resolve_priors({"treatment": {"sigma": 10}}, ["(Intercept)", "armB", "x"],
    ...                    contrast_columns=["armB"], mcid=20.0)
    >>> p.scale, p.scale_source, p.treatment.describe(), p.coefficients["x"].describe()
    (100.0, '5 x mcid (mcid = 20)', 'normal(mu=0, sigma=10)', 'normal(mu=0, sigma=250)')
    >>> resolve_priors({"scal": 1}, ["x"], mcid=None)
    Traceback (most recent call last):
    ...
    longmod.engines.bayes.priors.PriorError: unknown prior key(s) scal; valid: scale, intercept, treatment, coefficients, terms, sigma, random_intercept_sd, random_slope_sd, correlation, lkj_eta
    """
    priors = dict(priors or {})
    unknown = [k for k in priors if k not in PRIOR_KEYS]
    if unknown:
        raise PriorError(f"unknown prior key(s) {', '.join(map(str, unknown))}; valid: {', '.join(PRIOR_KEYS)}")
    mcid = DEFAULT_MCID if mcid is None else float(mcid)
    if "scale" in priors:
        try:
            scale = float(priors["scale"])
        except (TypeError, ValueError):
            raise PriorError(f"prior scale must be a number, got {priors['scale']!r}") from None
        source = "spec.priors.scale"
        if not scale > 0 or not math.isfinite(scale):
            raise PriorError(f"prior scale must be > 0, got {scale}")
    else:
        scale, source = 5.0 * mcid, f"5 x mcid (mcid = {mcid:g})"
    terms = priors.get("terms") or {}
    if not isinstance(terms, Mapping):
        raise PriorError(f"priors.terms must be a table of column = prior, got {terms!r}")
    missing = [t for t in terms if t not in columns]
    if missing:
        raise PriorError(f"priors.terms name column(s) {', '.join(missing)} not in the design; "
                         f"columns: {', '.join(columns)}")
    clash = [t for t in terms if t in contrast_columns or t == "(Intercept)"]
    if clash:
        raise PriorError(f"priors.terms name column(s) {', '.join(clash)} whose prior is set elsewhere: the "
                         f"per-visit treatment contrasts take `treatment`, the intercept takes `intercept`")
    coef_default = parse_prior(priors.get("coefficients"), "coefficients", "coefficient", _normal(0.0, 2.5 * scale))
    coefficients = {
        c: parse_prior(terms[c], f"terms.{c}", "coefficient", coef_default) if c in terms else coef_default
        for c in columns if c != "(Intercept)" and c not in contrast_columns
    }
    if "correlation" in priors and "lkj_eta" in priors:
        raise PriorError("give the correlation prior once: either correlation = { dist = \"lkj\", eta = ... } "
                         "or lkj_eta = ..., not both")
    corr_decl = priors.get("correlation")
    if "lkj_eta" in priors:
        corr_decl = {"dist": "lkj", "eta": priors["lkj_eta"]}
    return ResolvedPriors(
        scale=scale, scale_source=source,
        intercept=parse_prior(priors.get("intercept"), "intercept", "coefficient", _normal(0.0, 10.0 * scale)),
        treatment=parse_prior(priors.get("treatment"), "treatment", "coefficient", _normal(0.0, 2.5 * scale)),
        coefficients=coefficients,
        sigma=parse_prior(priors.get("sigma"), "sigma", "scale", _half_normal(2.5 * scale)),
        random_intercept_sd=parse_prior(priors.get("random_intercept_sd"), "random_intercept_sd", "scale",
                                        _half_normal(2.5 * scale)),
        random_slope_sd=parse_prior(priors.get("random_slope_sd"), "random_slope_sd", "scale", _half_normal(scale)),
        correlation=parse_prior(corr_decl, "correlation", "correlation", Prior("lkj", (("eta", 2.0),))),
        treatment_declared="treatment" in priors,
    )


def centre_columns(X: Any, columns: Sequence[str]) -> tuple[Any, Any]:
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
    import numpy as np

    means = np.array([0.0 if c == "(Intercept)" else float(X[:, j].mean()) for j, c in enumerate(columns)])
    return X - means[None, :], means
