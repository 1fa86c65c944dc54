"""Engine-free model declarations.

A :class:`ModelSpec` says *what* to fit (outcome, fixed effects, subject,
visit/time, covariance structure, estimation method, inference options,
priors); engines in :mod:`longmod.engines` say *how*. Specs are frozen:
``spec.replace(...)`` returns a changed copy. Option names are checked when the
spec is built, so a typo fails before any fitting.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

#: Covariance structures of the native Gaussian core. ``ri`` / ``ris`` / ``ris_diag`` are the
#: random-intercept, random-intercept-and-slope and uncorrelated intercept-and-slope
#: structures V = Z G Z' + s2 I; ``sp_exp`` is the spatial exponential over a numeric time.
COVARIANCE_STRUCTURES: tuple[str, ...] = (
    "us", "cs", "csh", "ar1", "ar1h", "toep", "toeph", "ad", "adh", "ri", "ris", "ind", "sp_exp", "ris_diag",
)
METHODS: tuple[str, ...] = ("reml", "ml")
DF_METHODS: tuple[str, ...] = (
    "satterthwaite", "kenward-roger", "kenward-roger-linear", "residual",
    "between-within", "asymptotic",
)
VCOV_METHODS: tuple[str, ...] = ("model", "sandwich")
ENGINES: tuple[str, ...] = ("ancova", "native", "statsmodels", "lme4", "pymc")


def _freeze(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return MappingProxyType({k: _freeze(v) for k, v in obj.items()})
    if isinstance(obj, list):
        return tuple(_freeze(v) for v in obj)
    return obj


def _thaw(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {k: _thaw(v) for k, v in obj.items()}
    if isinstance(obj, tuple):
        return [_thaw(v) for v in obj]
    return obj


class SpecError(ValueError):
    """A specification names an unknown or unsupported option."""


def _check_choice(what: str, value: str | None, allowed: tuple[str, ...], where: str) -> None:
    if value is not None and value not in allowed:
        raise SpecError(f"{where}: {what} = {value!r} is not supported; choose one of {', '.join(allowed)}")


@dataclass(frozen=True)
class Treatment:
    """The randomised comparison: ``active`` vs ``reference`` levels of ``variable``.

    There is no default arm: in a plan the comparison comes from the trial's
    ``arms`` and ``reference_arm`` (one Treatment per active arm, see
    :meth:`for_trial`); a model spec used on its own declares it in
    ``[model.treatment]``.

    Examples
    --------
    >>> t = Treatment("arm", reference="usual_care", active="drug")
    >>> t.label
    'drug - usual_care'
    >>> Treatment.from_mapping({"variable": "arm", "refrence": "x"})
    Traceback (most recent call last):
    ...
    longmod.spec.model.SpecError: treatment: unknown key(s) refrence; valid keys: variable, reference, active
    """

    variable: str = "arm"
    reference: str | None = None
    active: str | None = None

    @property
    def is_declared(self) -> bool:
        """True when both the reference and the active level are given."""
        return self.reference is not None and self.active is not None

    @property
    def label(self) -> str:
        """Contrast label used in result tables, e.g. ``"drug - usual_care"``."""
        if not self.is_declared:
            raise SpecError("no treatment comparison declared: give [model.treatment] variable, reference and active "
                            "(in an analysis plan they come from trial.toml's arms and reference_arm)")
        return f"{self.active} - {self.reference}"

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, where: str = "treatment") -> "Treatment":
        """Build from a table such as ``[model.treatment]``; unknown keys are errors listing the valid ones."""
        if isinstance(data, Treatment):
            return data
        if not isinstance(data, Mapping):
            raise SpecError(f"{where} must be a table with variable, reference and active, got {data!r}")
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise SpecError(f"{where}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(known)}")
        bad = [k for k, v in data.items() if not isinstance(v, str)]
        if bad:
            raise SpecError(f"{where}: {', '.join(bad)} must be text (a column name or an arm label)")
        return cls(**dict(data))

    @classmethod
    def for_trial(cls, arms: Sequence[str], reference: str, variable: str = "arm") -> tuple["Treatment", ...]:
        """One comparison per active arm, each against ``reference`` (in the order of ``arms``).

        Examples
        --------
        >>> [t.label for t in Treatment.for_trial(["low", "high", "control"], "control")]
        ['low - control', 'high - control']
        """
        return tuple(cls(variable, reference, a) for a in arms if a != reference)


@dataclass(frozen=True)
class ModelSpec:
    """Declaration of one longitudinal (or single-time) model.

    A model is written either as one ``formula`` (as in R's mmrm / lme4:
    ``"FEV1 ~ RACE + ARMCD * AVISIT + us(AVISIT | USUBJID)"``,
    ``"y ~ arm * visit + (1 + day | id)"``; see :mod:`longmod.spec.model_formula`), which
    fills ``outcome``, ``fixed``, ``subject``, ``covariance`` and ``visit`` or ``time``,
    or with those fields one by one (a field given beside ``formula`` must agree with it).

    Parameters
    ----------
    name : str
        Analysis name, used as ``analysis`` in result tables.
    outcome : str
        Response column of the long data.
    fixed : str
        Right-hand side of the fixed-effects formula (formulaic/R syntax, e.g.
        ``"RACE + SEX + ARMCD * AVISIT"``, ``"C(arm, Treatment('ctl')) + log(x)"``);
        factors use treatment contrasts with the first level of ``levels`` as reference.
    subject : str
        Column identifying patients (the blocks of the covariance matrix).
    visit : str, optional
        Categorical visit column: the index of the MMRM covariance and of the
        per-visit LS means/contrasts. Its level order is ``levels[visit]``, else
        the order of ``time`` (each visit's median time), else a pandas Categorical's
        order or numeric order; text labels alone give no order (an error for
        order-dependent structures).
    time : str, optional
        Numeric time column (random slope, spatial distances, visit order).
    covariance : str
        One of :data:`COVARIANCE_STRUCTURES` (default ``"us"``).
    method : {"reml", "ml"}
    df : str
        Denominator degrees of freedom, one of :data:`DF_METHODS`.
    vcov : {"model", "sandwich"}
    engine : str
        One of :data:`ENGINES`.
    treatment : Treatment
        Randomised comparison reported as the treatment contrast.
    levels : mapping
        Factor level order per column (first = reference).
    outcome_label, mcid : optional
        Display name and minimal clinically important difference of the outcome.
    priors, sampler : mapping
        Bayesian priors and sampler settings (``chains``, ``draws``, ``tune``,
        ``seed``); ignored by frequentist engines.
    formula : str, optional
        The whole model formula (see above).

    Examples
    --------
    >>> from longmod.spec import ModelSpec
    >>> s = ModelSpec(name="m", outcome="FEV1", fixed="ARMCD * AVISIT", subject="USUBJID",
    ...               visit="AVISIT", covariance="us")
    >>> s.replace(covariance="cs").covariance
    'cs'
    >>> ModelSpec(name="m", outcome="y", fixed="x", subject="id", covariance="unstructured")
    Traceback (most recent call last):
    ...
    longmod.spec.model.SpecError: model 'm': covariance = 'unstructured' is not supported; choose one of us, cs, csh, ar1, ar1h, toep, toeph, ad, adh, ri, ris, ind, sp_exp, ris_diag
    >>> f = ModelSpec(name="m", formula="FEV1 ~ ARMCD * AVISIT + ar1(AVISIT | USUBJID)", time="VISITN")
    >>> f.outcome, f.fixed, f.subject, f.visit, f.covariance
    ('FEV1', 'ARMCD * AVISIT', 'USUBJID', 'AVISIT', 'ar1')
    """

    name: str
    outcome: str | None = None
    fixed: str | None = None
    subject: str | None = None
    visit: str | None = None
    time: str | None = None
    covariance: str | None = None
    method: str = "reml"
    df: str = "kenward-roger"
    vcov: str = "model"
    engine: str = "native"
    treatment: Treatment | None = field(default_factory=Treatment)
    levels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    outcome_label: str | None = None
    mcid: float | None = None
    priors: Mapping[str, Any] = field(default_factory=dict)
    sampler: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    formula: str | None = None

    def __post_init__(self) -> None:
        where = f"model {self.name!r}"
        if self.formula is not None:
            self._apply_formula(where)
        missing = [k for k in ("outcome", "fixed", "subject") if getattr(self, k) in (None, "")]
        if missing:
            raise SpecError(f"{where}: missing {', '.join(missing)}; give them, or a whole `formula` "
                            "such as 'y ~ arm * visit + us(visit | id)'")
        if self.covariance is None:
            object.__setattr__(self, "covariance", "us")
        _check_choice("covariance", self.covariance, COVARIANCE_STRUCTURES, where)
        _check_choice("method", self.method, METHODS, where)
        _check_choice("df", self.df, DF_METHODS, where)
        _check_choice("vcov", self.vcov, VCOV_METHODS, where)
        _check_choice("engine", self.engine, ENGINES, where)
        object.__setattr__(self, "levels", _freeze({k: list(v) for k, v in dict(self.levels).items()}))
        object.__setattr__(self, "priors", _freeze(dict(self.priors)))
        object.__setattr__(self, "sampler", _freeze(dict(self.sampler)))
        if isinstance(self.treatment, Mapping):
            object.__setattr__(self, "treatment", Treatment.from_mapping(self.treatment, where=f"{where}: treatment"))

    def _apply_formula(self, where: str) -> None:
        from longmod.spec.formula import FormulaError
        from longmod.spec.model_formula import parse_model_formula

        try:
            mf = parse_model_formula(self.formula)
        except FormulaError as exc:
            raise SpecError(f"{where}: {exc}") from None
        derived = {"outcome": mf.outcome, "fixed": mf.fixed, "subject": mf.subject, "covariance": mf.covariance,
                   "visit": mf.visit, "time": mf.time}
        for key, value in derived.items():
            if value is None:
                continue
            mine = getattr(self, key)
            if key == "fixed" and mine is not None and mine != value:
                raise SpecError(f"{where}: give the fixed effects once: `formula` has {value!r}, `fixed` = {mine!r}")
            if mine is not None and mine != value:
                raise SpecError(f"{where}: {key} = {mine!r} contradicts the formula {self.formula!r} ({key} {value!r})")
            object.__setattr__(self, key, value)

    def replace(self, **changes: Any) -> "ModelSpec":
        """Return a copy with ``changes`` applied (the spec itself is frozen).

        Changing a field that the ``formula`` sets (outcome, fixed, subject, covariance,
        visit, time) drops the formula from the copy: its fields are then the model.
        """
        derived = {"outcome", "fixed", "subject", "covariance", "visit", "time"}
        if self.formula is not None and "formula" not in changes and derived & set(changes):
            changes = {**changes, "formula": None}
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python representation (TOML/JSON friendly)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["treatment"] = dataclasses.asdict(self.treatment) if self.treatment is not None else None
        return _thaw(d)

    def spec_hash(self) -> str:
        """sha256 of the canonical JSON of the spec (provenance)."""
        blob = json.dumps(self.to_dict(), sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, where: str = "spec") -> "ModelSpec":
        """Build a spec from a mapping such as a TOML ``[model]`` table.

        Either ``formula`` (the whole model, e.g. ``"FEV1 ~ ARMCD * AVISIT + us(AVISIT | USUBJID)"``)
        or ``outcome`` + ``fixed`` + ``subject`` (+ ``covariance``) is required, besides ``name``.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SpecError(f"{where}: unknown key(s) {', '.join(unknown)}; valid keys are {', '.join(sorted(known))}")
        required = ("name",) if "formula" in data else ("name", "outcome", "fixed", "subject")
        missing = [k for k in required if k not in data]
        if missing:
            raise SpecError(f"{where}: missing required key(s) {', '.join(missing)} (or give a whole `formula`)")
        data = dict(data)
        if "treatment" in data:
            data["treatment"] = Treatment.from_mapping(data["treatment"], where=f"{where}: [model.treatment]")
        try:
            return cls(**data)
        except SpecError as exc:
            raise SpecError(f"{where}: {exc}") from None


def load_model_spec(path: str | Path) -> ModelSpec:
    """Read a :class:`ModelSpec` from the ``[model]`` table of a TOML file.

    Examples
    --------
    >>> from longmod.resources import models_dir
    >>> spec = load_model_spec(models_dir() / "examples" / "fev_data_us_reml.toml")
    >>> spec.covariance, spec.method
    ('us', 'reml')
    """
    path = Path(path)
    with path.open("rb") as fh:
        doc = tomllib.load(fh)
    if "model" not in doc:
        raise SpecError(f"{path}: no [model] table; a model spec file needs one")
    return ModelSpec.from_mapping(doc["model"], where=str(path))
