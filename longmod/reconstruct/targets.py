"""Targets files: published summaries to reproduce, and the generator's assumptions.

A targets file (TOML) has these parts:

``[reconstruction]``
    ``name``, ``fixture`` (output folder name), ``outcome`` (the calibrated
    variable, needed with ``[generator.baseline]``), ``baseline_day``,
    ``endpoint_day``, ``decimals`` (rounding of the written outcome values,
    applied *before* the targets are evaluated), ``facts`` (the published-facts
    file the ``source`` keys refer to), ``patient_columns`` (leading columns of
    ``patients.csv``, in order), ``end_columns`` (event-day columns after which
    a patient is no longer measured), ``data_note`` (a sentence on what is
    measured when, for CALIBRATION.md) and ``sort_measurements`` (write the
    measurements sorted by patient, variable and day).
``[estimands.<name>]``
    Estimands as in :class:`longmod.spec.estimand.Estimand` (strategies per
    intercurrent event); analysis sets refer to them.
``[analysis_sets.<name>]``
    ``estimand`` (rows of its :class:`~longmod.estimands.AnalysisData` frame)
    or ``variable`` and ``day`` (observed values read straight from the
    measurements: ``baseline`` on ``baseline_day``, ``value`` on ``day``,
    ``change``) or neither (the patients table); optional ``source`` filter
    (``observed``/``imputed``).
``[[targets]]``
    ``id``, ``kind`` (see :data:`longmod.reconstruct.stats.STATISTICS`),
    ``set``, ``arm`` (an arm or ``"all"``), ``variable``, ``value``
    (published), ``tolerance``, ``source`` (key of the verbatim quote in the
    published-facts file), optional ``where`` (a pandas query on the set),
    ``q`` (quantiles), ``options`` (test settings, e.g. ``horizon``),
    ``soft`` (reported, never fails the build) and ``weight``.
``[[candidates]]``
    Printed P values whose test the paper does not name: ``id``, ``published``,
    ``source``, ``note`` and ``tests``, each a statistic evaluated like a
    target (``label``, ``kind``, ``set``, ``variable``, ``where``,
    ``options``); CALIBRATION.md reports every test's P beside the printed
    one and marks the one used as a calibration target.
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
    """A targets file is malformed (the message lists every problem).

    Examples
    --------
    >>> from pathlib import Path
    >>> load_targets(Path("no_such_folder") / "targets.toml")
    Traceback (most recent call last):
    ...
    longmod.reconstruct.targets.TargetsError: targets file not found: no_such_folder/targets.toml
    """


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
    options : mapping
        Settings of test statistics (e.g. ``horizon``, ``weights``, ``sets``).
    soft : bool
        Reported only; never fails the build.
    weight : float
        Weight in the calibration objective (0: verified, not optimised).
    note : str

    Examples
    --------
    A published mean of 2.0 (tolerance 0.1) of ``value`` in arm ``a`` of analysis set ``s``:

    >>> t = Target("mean_value_a", "mean", "s", "a", "value", 2.0, 0.1)
    >>> t.kind, t.value, t.tolerance
    ('mean', 2.0, 0.1)
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
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def describe(self) -> str:
        """Short text such as ``"median of change, mitt_post_imputation, active"``."""
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
    candidates : tuple of mapping
        ``[[candidates]]``: printed P values and the tests that may give them.
    facts : str
        The published-facts file the targets' ``source`` keys refer to.
    patient_columns : tuple of str
        Leading columns of ``patients.csv`` (the rest follow in generation order).
    end_columns : tuple of str
        Event-day columns that end a patient's measurements.
    data_note : str
    sort_measurements : bool

    Examples
    --------
    >>> from longmod.resources import fixtures_dir
    >>> spec = load_targets(fixtures_dir() / "gregoire_2022" / "targets.toml")
    >>> spec.fixture, len(spec.targets) > 0, sorted(spec.analysis_sets)[:2], spec.targets[0].kind
    ('gregoire_2022', True, ['d_dimer_d7', 'patients'], 'count')
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
    candidates: tuple[Mapping[str, Any], ...] = ()
    facts: str = ""
    patient_columns: tuple[str, ...] = ("patient_id", "arm")
    end_columns: tuple[str, ...] = ()
    data_note: str = ""
    sort_measurements: bool = False

    @property
    def arms(self) -> tuple[str, ...]:
        """Arm labels in the order of ``[generator] arms``."""
        return tuple(self.generator["arms"])

    def calibrated_sources(self) -> frozenset[str]:
        """Quote keys of the published numbers the data were built to reproduce (hard targets).

        A reproduction of one of these numbers on the fixture matches *by
        construction*; a published result whose quote keys are all outside this
        set is an independent check. Assumption notes (``assumption: ...``) are
        not quote keys.

        Examples
        --------
        >>> from longmod.resources import fixtures_dir
        >>> spec = load_targets(fixtures_dir() / "stroma_cov2" / "targets.toml")
        >>> "primary_endpoint.ancova_treatment_effect" in spec.calibrated_sources()
        True
        """
        keys = {t.source for t in self.targets if not t.soft and t.source}
        deaths = dict(self.extension.get("deaths", {})) if self.extension else {}
        keys |= {str(deaths[k]) for k in ("source",) if k in deaths}
        return frozenset(k for k in keys if "." in k and not k.startswith("assumption"))

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
    gen = dict(doc.get("generator", {}))
    for key in ("name", "outcome", "endpoint_day") if "baseline" in gen else ("name",):
        if key not in rec:
            problems.append(f"[reconstruction] needs '{key}'" + (" (with [generator.baseline])" if key != "name" else ""))
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
        if est and "variable" in s:
            problems.append(f"[analysis_sets.{name}]: give either 'estimand' or 'variable' (with 'day'), not both")
        if "variable" in s and "day" not in s:
            problems.append(f"[analysis_sets.{name}]: a set read from the measurements needs 'day' besides 'variable'")
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
            targets.append(Target(**{**t, "value": float(t["value"]), "tolerance": float(t["tolerance"]),
                                     "options": _freeze(dict(t.get("options", {})))}))
    if not doc.get("targets"):
        problems.append("no [[targets]]")
    candidates = [dict(c) for c in doc.get("candidates", [])]
    for i, c in enumerate(candidates):
        label = f"[[candidates]] #{i + 1} ({c.get('id', '?')})"
        for key in ("id", "published", "tests"):
            if key not in c:
                problems.append(f"{label}: missing {key}")
        for j, test in enumerate(c.get("tests", [])):
            for key in ("label", "kind", "set", "variable"):
                if key not in test:
                    problems.append(f"{label} test #{j + 1}: missing {key}")
            if test.get("kind") not in STATISTICS:
                problems.append(f"{label} test #{j + 1}: unknown kind {test.get('kind')!r}; valid kinds: {', '.join(STATISTICS)}")
            if test.get("set") not in sets:
                problems.append(f"{label} test #{j + 1}: unknown analysis set {test.get('set')!r}")
    if problems:
        raise TargetsError(f"{len(problems)} problem(s) in {where}:\n" + "\n".join(f"  - {p}" for p in problems))
    return TargetSpec(
        name=str(rec["name"]), fixture=str(rec.get("fixture", rec["name"])), outcome=str(rec.get("outcome", "")),
        baseline_day=int(rec.get("baseline_day", 0)), endpoint_day=int(rec.get("endpoint_day", 0)),
        decimals=int(rec.get("decimals", 1)), estimands=MappingProxyType(estimands),
        analysis_sets=_freeze(sets), targets=tuple(targets), generator=_freeze(gen),
        extension=_freeze(dict(doc.get("extension", {}))), biomarkers=_freeze(dict(doc.get("biomarkers", {}))),
        path=where, candidates=tuple(_freeze(c) for c in candidates), facts=str(rec.get("facts", "")),
        patient_columns=tuple(rec.get("patient_columns", ("patient_id", "arm"))),
        end_columns=tuple(rec.get("end_columns", ())), data_note=str(rec.get("data_note", "")),
        sort_measurements=bool(rec.get("sort_measurements", False)),
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
    >>> len(spec.arms), spec.outcome
    (2, 'pao2_fio2')
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
