"""Estimands (ICH E9(R1)): one strategy per intercurrent event, as data.

An :class:`Estimand` names the outcome, the time point, the population and the
strategy for each intercurrent event. It declares; :mod:`longmod.estimands`
applies it to trial data.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from longmod.spec.model import SpecError

#: Strategies for death before the time point.
DEATH_STRATEGIES = ("composite", "locf", "hypothetical", "exclude")
#: Strategies for ICU discharge before the time point.
DISCHARGE_STRATEGIES = ("locf_multiplier", "locf_plus_baseline_fraction", "locf", "hypothetical", "exclude")
#: Strategies for incomplete dosing.
DOSING_STRATEGIES = ("treatment_policy", "per_protocol")
#: Strategies for values missing for other reasons (alive and in ICU).
OTHER_MISSING_STRATEGIES = ("exclude", "locf", "hypothetical")
POPULATIONS = ("mitt", "per_protocol")


@dataclass(frozen=True)
class Strategy:
    """One intercurrent-event strategy and its parameters.

    ``name`` is one of the strategy names of its event; ``value`` is the
    composite value (death), ``factor`` the LOCF multiplier or baseline fraction
    (discharge).
    """

    name: str
    value: float | None = None
    factor: float | None = None

    def describe(self) -> str:
        """Human-readable rule, e.g. ``"last observed value x 1.10"``."""
        n = self.name
        if n == "composite":
            return f"composite: value set to {self.value:g}"
        if n == "locf_multiplier":
            return f"last observed value x {self.factor:.2f}"
        if n == "locf_plus_baseline_fraction":
            return f"last observed value + {self.factor:.0%} of the baseline value"
        if n == "locf":
            return "last observed value carried forward"
        if n == "hypothetical":
            return "hypothetical: value treated as missing at random (modelled, not imputed)"
        if n == "exclude":
            return "patient excluded from this analysis"
        if n == "treatment_policy":
            return "treatment policy: analysed as randomised whatever the doses received"
        if n == "per_protocol":
            return "per protocol: only patients who received every planned dose"
        return n


def _strategy(obj: Any, allowed: tuple[str, ...], event: str, where: str) -> Strategy:
    if isinstance(obj, Strategy):
        s = obj
    elif isinstance(obj, str):
        s = Strategy(obj)
    elif isinstance(obj, Mapping):
        d = dict(obj)
        name = d.pop("strategy", d.pop("name", None))
        unknown = sorted(set(d) - {"value", "factor"})
        if unknown:
            raise SpecError(f"{where}: {event} strategy has unknown key(s) {', '.join(unknown)}; valid: strategy, value, factor")
        s = Strategy(name, **d)
    else:
        raise SpecError(f"{where}: {event} strategy must be a name or a table, got {obj!r}")
    if s.name not in allowed:
        raise SpecError(f"{where}: {event} strategy {s.name!r} is not supported; choose one of {', '.join(allowed)}")
    if s.name == "composite" and s.value is None:
        raise SpecError(f"{where}: {event} strategy 'composite' needs the value given to patients with the event, "
                        f"in the outcome's units, e.g. {event} = {{ strategy = \"composite\", value = 0 }}")
    if s.name in ("locf_multiplier", "locf_plus_baseline_fraction") and s.factor is None:
        example = "1.10" if s.name == "locf_multiplier" else "0.10"
        raise SpecError(f"{where}: {event} strategy {s.name!r} needs its factor, e.g. "
                        f"{event} = {{ strategy = \"{s.name}\", factor = {example} }}")
    if s.name not in ("composite",) and s.value is not None:
        raise SpecError(f"{where}: {event} strategy {s.name!r} takes no value (only 'composite' does)")
    if s.name not in ("locf_multiplier", "locf_plus_baseline_fraction") and s.factor is not None:
        raise SpecError(f"{where}: {event} strategy {s.name!r} takes no factor")
    return s


@dataclass(frozen=True)
class Estimand:
    """What is estimated: outcome, time point, population and ICE strategies.

    Parameters
    ----------
    name : str
    outcome : str
        Measured variable (a ``[variables.*]`` name of the trial).
    day : int
        Time point of the endpoint (change from ``baseline_day`` to ``day``).
    baseline_day : int, optional
        Default: the trial's ``baseline_day``.
    population : {"mitt", "per_protocol"}
    death, discharge, incomplete_dosing, other_missing : Strategy or str or mapping
        Strategy per intercurrent event; ``death`` and ``discharge`` apply to
        the trial's events of that kind (``[events.*] kind``). Defaults:
        ``hypothetical`` for death and discharge (the value is left missing:
        likelihood-based models treat it as missing at random, single-endpoint
        analyses drop the patient and count it in ``n_dropped``), treatment
        policy for incomplete dosing, other missing values excluded. A
        ``composite`` strategy needs its ``value`` and the LOCF variants their
        ``factor``: no outcome-specific number is assumed.
    summary : str
        Population-level summary (e.g. "difference in adjusted mean change").
    label : str
        Short description shown in reports.

    Examples
    --------
    >>> e = Estimand(name="primary", outcome="pf_ratio", day=7, death={"strategy": "composite", "value": 0},
    ...              discharge={"strategy": "locf_multiplier", "factor": 1.1})
    >>> e.death.describe(), e.discharge.describe()
    ('composite: value set to 0', 'last observed value x 1.10')
    >>> e.replace(discharge="locf").discharge.name
    'locf'
    >>> Estimand(name="x", outcome="pf_ratio", day=7, death="composite")
    Traceback (most recent call last):
    ...
    longmod.spec.model.SpecError: estimand 'x': death strategy 'composite' needs the value given to patients with the event, in the outcome's units, e.g. death = { strategy = "composite", value = 0 }
    """

    name: str
    outcome: str
    day: int
    baseline_day: int | None = None
    population: str = "mitt"
    death: Strategy | str | Mapping = field(default_factory=lambda: Strategy("hypothetical"))
    discharge: Strategy | str | Mapping = field(default_factory=lambda: Strategy("hypothetical"))
    incomplete_dosing: Strategy | str | Mapping = field(default_factory=lambda: Strategy("treatment_policy"))
    other_missing: Strategy | str | Mapping = field(default_factory=lambda: Strategy("exclude"))
    summary: str = "difference in mean change from baseline, adjusted for baseline and strata"
    label: str = ""

    def __post_init__(self) -> None:
        where = f"estimand {self.name!r}"
        if self.population not in POPULATIONS:
            raise SpecError(f"{where}: population {self.population!r} is not supported; choose one of {', '.join(POPULATIONS)}")
        object.__setattr__(self, "death", _strategy(self.death, DEATH_STRATEGIES, "death", where))
        object.__setattr__(self, "discharge", _strategy(self.discharge, DISCHARGE_STRATEGIES, "discharge", where))
        object.__setattr__(self, "incomplete_dosing", _strategy(self.incomplete_dosing, DOSING_STRATEGIES, "incomplete_dosing", where))
        object.__setattr__(self, "other_missing", _strategy(self.other_missing, OTHER_MISSING_STRATEGIES, "other_missing", where))
        if self.incomplete_dosing.name == "per_protocol" and self.population != "per_protocol":
            object.__setattr__(self, "population", "per_protocol")
        if isinstance(self.day, bool) or not isinstance(self.day, int):
            raise SpecError(f"{where}: day must be a whole number (a scheduled day), got {self.day!r}")

    def replace(self, **changes: Any) -> "Estimand":
        """Copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)

    def describe(self) -> str:
        """One-line description of every strategy."""
        return (
            f"{self.outcome} change {'baseline' if self.baseline_day is None else f'D{self.baseline_day}'}->D{self.day}, "
            f"{self.population}; "
            f"death: {self.death.describe()}; ICU discharge: {self.discharge.describe()}; "
            f"incomplete dosing: {self.incomplete_dosing.describe()}; other missing: {self.other_missing.describe()}"
        )

    @classmethod
    def from_mapping(cls, name: str, data: Mapping[str, Any], *, where: str = "plan") -> "Estimand":
        """Build from a TOML table such as ``[estimands.primary]``."""
        known = {f.name for f in dataclasses.fields(cls)} - {"name"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SpecError(f"{where}: estimand {name!r} has unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(sorted(known))}")
        missing = [k for k in ("outcome", "day") if k not in data]
        if missing:
            raise SpecError(f"{where}: estimand {name!r} needs {' and '.join(missing)} (the measured variable and "
                            "the day of the endpoint)")
        try:
            return cls(name=name, **dict(data))
        except SpecError as exc:
            raise SpecError(f"{where}: {exc}") from None
