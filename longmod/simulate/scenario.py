"""Simulation scenarios: a trial's data-generating model and the analyses to compare, as data.

A scenario file (TOML, e.g. ``models/scenarios/stroma_cov2_null.toml``) has

* ``[scenario]``: ``name``, ``arms`` (active first or any order) and
  ``reference_arm``, ``schedule`` (days, baseline first), ``endpoint_day``,
  the grid ``n_per_arm`` and ``effect`` (lists: every combination is one
  *cell*), ``alpha`` (two-sided), optional ``description`` and
  ``derived_from``;
* ``[outcome]``: the trajectory model of one continuous outcome: baseline
  ``baseline_mean``/``baseline_sd``; mean change from baseline in the
  reference arm at each post-baseline day ``change_mean``; its SD
  ``change_sd`` (one number or one per post-baseline day); the correlation of
  the changes between two days ``correlation ** |t - s|`` (``correlation``);
  ``baseline_slope`` (regression of the change on the centred baseline);
  ``min``/``max`` (values are clipped to this plausible range);
  ``better`` (``"higher"`` or ``"lower"``); ``decimals`` (rounding of values);
* ``[death]`` and ``[discharge]``: discrete-time hazards of the two
  intercurrent events, ``logit h(t) = intercept + slope * (y(t) - centre) /
  scale`` on each post-baseline day from ``earliest_day``; ``hazard_ratio``
  multiplies the active arm's odds;
* ``[estimand]``: the intercurrent-event rules of the composite analyses, with
  the keys of a plan's estimand (``death``, ``discharge``;
  :class:`~longmod.spec.estimand.Estimand`);
* ``[[analyses]]``: ``name`` and ``kind`` (one of
  :data:`longmod.simulate.analyses.SIMULATION_ANALYSES`) and kind options.

``effect`` is the true difference (active - reference) in mean change at
``endpoint_day`` had no patient died or left the ICU (the hypothetical
estimand); it grows linearly from 0 at baseline.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from longmod.spec.estimand import Estimand
from longmod.spec.model import SpecError

SCENARIO_KEYS = ("name", "description", "derived_from", "arms", "reference_arm", "schedule", "endpoint_day",
                 "n_per_arm", "effect", "alpha")
OUTCOME_KEYS = ("name", "baseline_mean", "baseline_sd", "change_mean", "change_sd", "correlation", "baseline_slope",
                "min", "max", "better", "decimals")
HAZARD_KEYS = ("intercept", "slope", "centre", "scale", "earliest_day", "hazard_ratio")


@dataclass(frozen=True)
class Hazard:
    """Discrete-time daily hazard of an intercurrent event (logit-linear in the current value)."""

    intercept: float = -np.inf
    slope: float = 0.0
    centre: float = 0.0
    scale: float = 1.0
    earliest_day: int = 1
    hazard_ratio: float = 1.0

    def logit(self, value: np.ndarray, active: np.ndarray) -> np.ndarray:
        """Daily logit hazard given the current value and the active-arm indicator."""
        return self.intercept + self.slope * (value - self.centre) / self.scale + np.log(self.hazard_ratio) * active


@dataclass(frozen=True)
class OutcomeModel:
    """Trajectory model of one continuous outcome (see the module docstring)."""

    baseline_mean: float
    baseline_sd: float
    change_mean: tuple[float, ...]
    change_sd: tuple[float, ...]
    correlation: float
    baseline_slope: float = 0.0
    min: float = -np.inf
    max: float = np.inf
    better: str = "higher"
    decimals: int = 1
    name: str = "outcome"

    def covariance(self, days: np.ndarray) -> np.ndarray:
        """Covariance of the post-baseline changes: ``sd_t sd_s correlation ** |t - s|``."""
        sd = np.asarray(self.change_sd, float)
        dist = np.abs(days[:, None] - days[None, :])
        return np.outer(sd, sd) * self.correlation ** dist


@dataclass(frozen=True)
class SimulationAnalysis:
    """One analysis applied to every simulated trial."""

    name: str
    kind: str
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))

    def __reduce__(self):  # picklable for Dask workers (a mappingproxy is not)
        return (SimulationAnalysis, (self.name, self.kind, dict(self.options)))


@dataclass(frozen=True)
class Scenario:
    """A simulation scenario (frozen); build with :func:`load_scenario` or :func:`parse_scenario`."""

    name: str
    arms: tuple[str, str]
    reference_arm: str
    schedule: tuple[int, ...]
    endpoint_day: int
    n_per_arm: tuple[int, ...]
    effect: tuple[float, ...]
    outcome: OutcomeModel
    death: Hazard
    discharge: Hazard
    estimand: Estimand
    analyses: tuple[SimulationAnalysis, ...]
    alpha: float = 0.05
    description: str = ""
    derived_from: str = ""

    @property
    def active_arm(self) -> str:
        """The arm compared with the reference."""
        return next(a for a in self.arms if a != self.reference_arm)

    @property
    def post_days(self) -> np.ndarray:
        """Post-baseline days of the schedule."""
        return np.asarray(self.schedule[1:], float)

    def digest(self) -> str:
        """sha256 of every field (identifies the scenario in checkpoints and outputs)."""
        return hashlib.sha256(json.dumps(_plain(self), sort_keys=True, default=str).encode()).hexdigest()

    def replace(self, **changes: Any) -> "Scenario":
        """A copy with ``changes`` applied (e.g. ``n_per_arm=(45,)``)."""
        return dataclasses.replace(self, **changes)

    def cells(self) -> list[tuple[int, float]]:
        """Every ``(n_per_arm, effect)`` combination, in a fixed order."""
        return list(itertools.product(self.n_per_arm, self.effect))

    def analysis(self, name: str) -> SimulationAnalysis:
        """The declared analysis called ``name``."""
        for a in self.analyses:
            if a.name == name:
                return a
        raise KeyError(f"scenario {self.name!r} has no analysis {name!r}; declared: {', '.join(a.name for a in self.analyses)}")


def _plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, float) and not np.isfinite(obj):
        return str(obj)
    return obj


def _check_keys(table: Mapping, allowed: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise SpecError(f"{where}: unknown key(s) {', '.join(unknown)}; valid: {', '.join(allowed)}")


def _require(table: Mapping, keys: tuple[str, ...], where: str) -> None:
    missing = [k for k in keys if k not in table]
    if missing:
        raise SpecError(f"{where}: missing required key(s) {', '.join(missing)}")


def _per_day(value: Any, n: int, what: str, where: str) -> tuple[float, ...]:
    vals = [float(value)] * n if isinstance(value, (int, float)) else [float(v) for v in value]
    if len(vals) != n:
        raise SpecError(f"{where}: {what} needs one value per post-baseline day ({n}), got {len(vals)}")
    return tuple(vals)


def _hazard(table: Mapping | None, where: str) -> Hazard:
    if table is None:
        return Hazard()
    _check_keys(table, HAZARD_KEYS, where)
    h = Hazard(**{k: (int(v) if k == "earliest_day" else float(v)) for k, v in table.items()})
    if h.hazard_ratio <= 0 or h.scale <= 0:
        raise SpecError(f"{where}: hazard_ratio and scale must be > 0")
    return h


def parse_scenario(doc: Mapping[str, Any], *, where: str = "scenario") -> Scenario:
    """Build a :class:`Scenario` from a parsed TOML document, checking every key.

    Examples
    --------
    >>> from longmod.resources import models_dir
    >>> s = load_scenario(models_dir() / "scenarios" / "stroma_cov2_null.toml")
    >>> s.effect, s.reference_arm in s.arms, len(s.cells()) >= 1
    ((0.0,), True, True)
    """
    from longmod.simulate.analyses import SIMULATION_ANALYSES

    _check_keys(doc, ("scenario", "outcome", "death", "discharge", "estimand", "analyses"), where)
    head = dict(doc.get("scenario", {}))
    _check_keys(head, SCENARIO_KEYS, f"{where} [scenario]")
    _require(head, ("name", "arms", "reference_arm", "schedule", "endpoint_day", "n_per_arm", "effect"), f"{where} [scenario]")
    arms = tuple(str(a) for a in head["arms"])
    if len(arms) != 2 or len(set(arms)) != 2:
        raise SpecError(f"{where} [scenario]: arms must be two distinct names, got {list(arms)}")
    if head["reference_arm"] not in arms:
        raise SpecError(f"{where} [scenario]: reference_arm {head['reference_arm']!r} is not one of arms {list(arms)}")
    schedule = tuple(int(d) for d in head["schedule"])
    if list(schedule) != sorted(set(schedule)) or len(schedule) < 2:
        raise SpecError(f"{where} [scenario]: schedule must be increasing days, baseline first, got {list(schedule)}")
    endpoint = int(head["endpoint_day"])
    if endpoint not in schedule[1:]:
        raise SpecError(f"{where} [scenario]: endpoint_day {endpoint} is not a post-baseline day of the schedule {list(schedule)}")
    n_per_arm = tuple(int(n) for n in head["n_per_arm"])
    if any(n < 3 for n in n_per_arm):
        raise SpecError(f"{where} [scenario]: n_per_arm values must be >= 3, got {list(n_per_arm)}")
    effect = tuple(float(e) for e in head["effect"])
    alpha = float(head.get("alpha", 0.05))
    if not 0 < alpha < 1:
        raise SpecError(f"{where} [scenario]: alpha must be in (0, 1), got {alpha}")

    out = dict(doc.get("outcome", {}))
    ow = f"{where} [outcome]"
    _check_keys(out, OUTCOME_KEYS, ow)
    _require(out, ("baseline_mean", "baseline_sd", "change_mean", "change_sd", "correlation"), ow)
    k = len(schedule) - 1
    corr = float(out["correlation"])
    if not 0 <= corr < 1:
        raise SpecError(f"{ow}: correlation must be in [0, 1), got {corr}")
    if out.get("better", "higher") not in ("higher", "lower"):
        raise SpecError(f"{ow}: better must be 'higher' or 'lower', got {out['better']!r}")
    outcome = OutcomeModel(
        baseline_mean=float(out["baseline_mean"]), baseline_sd=float(out["baseline_sd"]),
        change_mean=_per_day(out["change_mean"], k, "change_mean", ow), change_sd=_per_day(out["change_sd"], k, "change_sd", ow),
        correlation=corr, baseline_slope=float(out.get("baseline_slope", 0.0)),
        min=float(out.get("min", -np.inf)), max=float(out.get("max", np.inf)), better=out.get("better", "higher"),
        decimals=int(out.get("decimals", 1)), name=str(out.get("name", "outcome")),
    )
    est_doc = dict(doc.get("estimand", {"death": {"strategy": "composite", "value": 50}, "discharge": "locf"}))
    estimand = Estimand.from_mapping("composite", {"outcome": outcome.name, "day": endpoint, **est_doc}, where=f"{where} [estimand]")
    analyses = []
    for i, a in enumerate(doc.get("analyses", [])):
        a = dict(a)
        name, kind = a.pop("name", f"analysis {i + 1}"), a.pop("kind", None)
        if kind not in SIMULATION_ANALYSES:
            raise SpecError(f"{where}: analysis {name!r}: kind {kind!r} is not supported; choose one of {', '.join(SIMULATION_ANALYSES)}")
        _check_keys(a, SIMULATION_ANALYSES[kind].options, f"{where}: analysis {name!r} ({kind})")
        analyses.append(SimulationAnalysis(name, kind, a))
    if not analyses:
        raise SpecError(f"{where}: no [[analyses]] declared; choose kinds among {', '.join(SIMULATION_ANALYSES)}")
    names = [a.name for a in analyses]
    if len(set(names)) != len(names):
        raise SpecError(f"{where}: analysis names must be unique, got {names}")
    return Scenario(
        name=str(head["name"]), arms=arms, reference_arm=str(head["reference_arm"]), schedule=schedule,
        endpoint_day=endpoint, n_per_arm=n_per_arm, effect=effect, outcome=outcome,
        death=_hazard(doc.get("death"), f"{where} [death]"), discharge=_hazard(doc.get("discharge"), f"{where} [discharge]"),
        estimand=estimand, analyses=tuple(analyses), alpha=alpha, description=str(head.get("description", "")),
        derived_from=str(head.get("derived_from", "")),
    )


def load_scenario(path: str | Path) -> Scenario:
    """Read and check a scenario TOML file (errors name the file and the key).

    Examples
    --------
    >>> from longmod.resources import models_dir
    >>> load_scenario(models_dir() / "scenarios" / "stroma_cov2_null.toml").name
    'stroma-cov2-null'
    """
    path = Path(path)
    try:
        with path.open("rb") as fh:
            doc = tomllib.load(fh)
    except FileNotFoundError:
        raise SpecError(f"{path}: scenario file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: not valid TOML ({exc})") from None
    return parse_scenario(doc, where=str(path))
