"""Targets files: published summaries to reproduce, and the generator's assumptions.

A targets file (TOML) has four parts:

``[reconstruction]``
    ``name``, ``fixture`` (output folder name), ``outcome`` (the calibrated
    variable), ``baseline_day``, ``endpoint_day``, ``decimals`` (rounding of the
    written outcome values, applied *before* the targets are evaluated).
``[estimands.<name>]``
    Estimands as in :class:`longmod.spec.estimand.Estimand` (strategies per
    intercurrent event); analysis sets refer to them.
``[analysis_sets.<name>]``
    ``estimand`` (rows of its :class:`~longmod.estimands.AnalysisData` frame)
    or ``estimand = ""`` for the patients table; optional ``source`` filter
    (``observed``/``imputed``).
``[[targets]]``
    ``id``, ``kind`` (see :data:`longmod.reconstruct.stats.STATISTICS`),
    ``set``, ``arm`` (an arm or ``"all"``), ``variable``, ``value``
    (published), ``tolerance``, ``source`` (key of the verbatim quote in the
    published-facts file), optional ``where`` (a pandas query on the set),
    ``q`` (quantiles), ``soft`` (reported, never fails the build) and
    ``weight``.
``[generator]``
    Every assumption for a quantity the paper does not report, each table
    with a ``note`` citing its source (e.g. ``NOTES.md b.4``).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from longmod.spec.estimand import Estimand
from longmod.spec.model import _freeze


class TargetsError(ValueError):
    """A targets file is malformed (the message lists every problem)."""


@dataclass(frozen=True)
class Target:
    """One published summary to reproduce.

    Attributes
    ----------
    id : str
    kind : str
        Statistic name, a key of :data:`longmod.reconstruct.stats.STATISTICS`.
    set : str
        Analysis set name.
    arm : str
        An arm label or ``"all"``.
    variable : str
        Column of the analysis set (``baseline``, ``value``, ``change``, a
        patient column) or, for paired statistics, ``"baseline,value"``.
    value : float
        Published value.
    tolerance : float
        Allowed absolute deviation (0 for counts that hold by construction).
    source : str
        Key of the verbatim quote in the published-facts file.
    where : str
        Optional pandas query restricting the set.
    q : float or None
        Probability for ``quantile`` (R type 7).
    soft : bool
        Reported only; never fails the build.
    weight : float
        Weight in the calibration objective (0: verified, not optimised).
    note : str
    """

    id: str
    kind: str
    set: str
    arm: str
    variable: str
    value: float
    tolerance: float
    source: str = ""
    where: str = ""
    q: float | None = None
    soft: bool = False
    weight: float = 1.0
    note: str = ""

    def describe(self) -> str:
        """Short text such as ``"median of change, mitt_post_imputation, uc_msc"``."""
        k = f"quantile {self.q:g}" if self.kind == "quantile" else self.kind
        w = f" where {self.where}" if self.where else ""
        return f"{k} of {self.variable}, {self.set}{w}, {self.arm}"


@dataclass(frozen=True)
class TargetSpec:
    """A parsed targets file.

    Attributes
    ----------
    name, fixture, outcome : str
    baseline_day, endpoint_day, decimals : int
    estimands : mapping of str to Estimand
    analysis_sets : mapping of str to mapping
    targets : tuple of Target
    generator : mapping
        The ``[generator]`` table (assumptions), read-only.
    extension, biomarkers : mapping
        Optional ``[extension]`` and ``[biomarkers]`` tables.
    path : str
    """

    name: str
    fixture: str
    outcome: str
    baseline_day: int
    endpoint_day: int
    decimals: int
    estimands: Mapping[str, Estimand]
    analysis_sets: Mapping[str, Mapping[str, Any]]
    targets: tuple[Target, ...]
    generator: Mapping[str, Any]
    extension: Mapping[str, Any] = field(default_factory=dict)
    biomarkers: Mapping[str, Any] = field(default_factory=dict)
    path: str = ""

    @property
    def arms(self) -> tuple[str, ...]:
        """Arm labels in the order of ``[generator] arms``."""
        return tuple(self.generator["arms"])

    def target(self, target_id: str) -> Target:
        """The target with id ``target_id`` (KeyError lists the ids)."""
        for t in self.targets:
            if t.id == target_id:
                return t
        raise KeyError(f"no target {target_id!r}; ids: {', '.join(t.id for t in self.targets)}")


_TARGET_KEYS = {f for f in Target.__dataclass_fields__}
_REQUIRED = ("id", "kind", "set", "arm", "variable", "value", "tolerance")


def parse_targets(doc: Mapping[str, Any], *, where: str = "targets") -> TargetSpec:
    """Build a :class:`TargetSpec` from a parsed TOML document.

    Every problem is collected and raised together as :class:`TargetsError`.

    Parameters
    ----------
    doc : mapping
        Parsed TOML (not modified).
    where : str
        Name used in messages (the file path).

    Returns
    -------
    TargetSpec

    Examples
    --------
    >>> doc = {"reconstruction": {"name": "toy", "outcome": "pf", "endpoint_day": 7},
    ...        "estimands": {"primary": {"outcome": "pf", "day": 7}},
    ...        "analysis_sets": {"all": {"estimand": "primary"}},
    ...        "generator": {"arms": {"a": 5, "b": 5}},
    ...        "targets": [{"id": "n_a", "kind": "count", "set": "all", "arm": "a",
    ...                     "variable": "value", "value": 5, "tolerance": 0}]}
    >>> spec = parse_targets(doc)
    >>> spec.arms, spec.targets[0].describe()
    (('a', 'b'), 'count of value, all, a')
    """
    from longmod.reconstruct.stats import STATISTICS

    problems: list[str] = []
    rec = dict(doc.get("reconstruction", {}))
    for key in ("name", "outcome", "endpoint_day"):
        if key not in rec:
            problems.append(f"[reconstruction] needs '{key}'")
    gen = dict(doc.get("generator", {}))
    if not isinstance(gen.get("arms"), Mapping) or not gen.get("arms"):
        problems.append("[generator] needs 'arms', a table of arm = number of patients")
    arms = set(gen.get("arms", {}) or {})
    estimands: dict[str, Estimand] = {}
    for name, table in dict(doc.get("estimands", {})).items():
        try:
            estimands[name] = Estimand.from_mapping(name, table, where=where)
        except Exception as exc:  # SpecError and TypeError alike, reported together
            problems.append(f"[estimands.{name}]: {exc}")
    sets = {k: dict(v) for k, v in dict(doc.get("analysis_sets", {})).items()}
    for name, s in sets.items():
        est = s.get("estimand", "")
        if est and est not in estimands and not any(p.startswith(f"[estimands.{est}]") for p in problems):
            problems.append(f"[analysis_sets.{name}]: unknown estimand {est!r}; defined: {', '.join(estimands) or 'none'}")
        if s.get("source", "") not in ("", "observed", "imputed"):
            problems.append(f"[analysis_sets.{name}]: source must be 'observed' or 'imputed', got {s['source']!r}")
    targets: list[Target] = []
    seen: set[str] = set()
    for i, t in enumerate(doc.get("targets", [])):
        label = f"[[targets]] #{i + 1} ({t.get('id', '?')})"
        missing = [k for k in _REQUIRED if k not in t]
        unknown = sorted(set(t) - _TARGET_KEYS)
        if missing:
            problems.append(f"{label}: missing {', '.join(missing)}")
        if unknown:
            problems.append(f"{label}: unknown key(s) {', '.join(unknown)}; valid: {', '.join(sorted(_TARGET_KEYS))}")
        if missing or unknown:
            continue
        if t["id"] in seen:
            problems.append(f"{label}: duplicate id")
        seen.add(t["id"])
        if t["kind"] not in STATISTICS:
            problems.append(f"{label}: unknown kind {t['kind']!r}; valid kinds: {', '.join(STATISTICS)}")
        if t["set"] not in sets:
            problems.append(f"{label}: unknown analysis set {t['set']!r}; defined: {', '.join(sets) or 'none'}")
        if t["arm"] != "all" and t["arm"] not in arms:
            problems.append(f"{label}: unknown arm {t['arm']!r}; valid: all, {', '.join(sorted(arms))}")
        if t["kind"] == "quantile" and not (0 <= float(t.get("q", -1)) <= 1):
            problems.append(f"{label}: a quantile target needs q between 0 and 1")
        if float(t["tolerance"]) < 0:
            problems.append(f"{label}: tolerance must be >= 0")
        if not problems:
            targets.append(Target(**{**t, "value": float(t["value"]), "tolerance": float(t["tolerance"])}))
    if not doc.get("targets"):
        problems.append("no [[targets]]")
    if problems:
        raise TargetsError(f"{len(problems)} problem(s) in {where}:\n" + "\n".join(f"  - {p}" for p in problems))
    return TargetSpec(
        name=str(rec["name"]), fixture=str(rec.get("fixture", rec["name"])), outcome=str(rec["outcome"]),
        baseline_day=int(rec.get("baseline_day", 0)), endpoint_day=int(rec["endpoint_day"]),
        decimals=int(rec.get("decimals", 1)), estimands=MappingProxyType(estimands),
        analysis_sets=_freeze(sets), targets=tuple(targets), generator=_freeze(gen),
        extension=_freeze(dict(doc.get("extension", {}))), biomarkers=_freeze(dict(doc.get("biomarkers", {}))),
        path=where,
    )


def load_targets(path: str | Path) -> TargetSpec:
    """Read and check a targets file.

    Parameters
    ----------
    path : str or pathlib.Path
        A ``targets.toml`` file.

    Returns
    -------
    TargetSpec

    Raises
    ------
    TargetsError
        Listing every problem in the file.

    Examples
    --------
    >>> from longmod.resources import fixtures_dir
    >>> spec = load_targets(fixtures_dir() / "stroma_cov2" / "targets.toml")
    >>> spec.arms, spec.outcome
    (('uc_msc', 'placebo'), 'pao2_fio2')
    """
    path = Path(path)
    if not path.is_file():
        raise TargetsError(f"targets file not found: {path}")
    try:
        with path.open("rb") as fh:
            doc = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise TargetsError(f"{path}: not valid TOML: {exc}") from None
    return parse_targets(doc, where=str(path))
