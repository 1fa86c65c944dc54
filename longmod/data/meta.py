"""Trial metadata (``trial.toml``, version 2): arms, schedule, covariates, events, variables.

Everything longmod needs to know about a trial's design is declared here, never
assumed in code: the arms and the reference arm, the visit schedule, the
patient-level covariates (with their type and role), the intercurrent events
(with the column that holds each one's day), and per measured variable its
plausible range, MCID and direction of benefit. :func:`check_meta` lists every
inconsistency; :mod:`longmod.data.trial_toml` reads the file and points each
problem at its line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

#: Types of a patient-level covariate.
COVARIATE_TYPES: tuple[str, ...] = ("binary", "categorical", "numeric")
#: Roles of a patient-level covariate: stratification factors are what the protocol's
#: ANCOVA adjusts for; ``matching`` names matched-set ids (1:k matched designs).
COVARIATE_ROLES: tuple[str, ...] = ("stratification", "matching", "covariate")
#: Kinds of intercurrent event; estimands key their strategies by kind.
EVENT_KINDS: tuple[str, ...] = ("death", "discharge", "other")
#: Direction of benefit of a variable.
BETTER: tuple[str, ...] = ("higher", "lower")
#: Types of a measured variable.
VARIABLE_TYPES: tuple[str, ...] = ("continuous", "ordinal")
#: Column names longmod creates in its analysis tables; a covariate or event column may not use them.
RESERVED_COLUMNS: tuple[str, ...] = (
    "patient_id", "arm", "day", "visit", "variable", "value", "lloq", "baseline", "change", "source", "rule",
    "event", "event_day", "last_observed_day", "doses_received",
)
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


@dataclass(frozen=True)
class VariableInfo:
    """Metadata of one measured variable (a ``[variables.<name>]`` table).

    ``min``/``max`` bound the plausible range (values outside are errors);
    ``baseline_required`` makes a missing baseline value an error; ``mcid`` is
    the minimal clinically important difference (None: not declared, so no
    P(effect > MCID) and no MCID-scaled prior); ``better`` is the direction of
    benefit (``"higher"`` or ``"lower"``); ``type`` is ``"continuous"`` or
    ``"ordinal"`` (then ``levels`` lists the ordered values).

    Examples
    --------
    >>> from longmod.data import read_trial_toml
    >>> from longmod.resources import fixtures_dir
    >>> meta = read_trial_toml(fixtures_dir() / "stroma_cov2" / "trial.toml")
    >>> v = meta.variables[meta.primary_outcome]
    >>> v.name, v.better, v.mcid, v.type
    ('pao2_fio2', 'higher', 20, 'continuous')
    """

    name: str
    label: str = ""
    units: str = ""
    min: float | None = None
    max: float | None = None
    baseline_required: bool = False
    #: Shown when a value is out of range, e.g. "FiO2 is a fraction (0.21-1.0), not a percentage".
    hint: str = ""
    mcid: float | None = None
    better: str = "higher"
    type: str = "continuous"
    levels: tuple = ()
    #: May the variable be measured after a discharge event? None: only an ordinal variable may (a status
    #: scale records the discharged state); a measurement of a continuous one after discharge is an error.
    after_discharge: bool | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "levels", tuple(self.levels))

    @property
    def measured_after_discharge(self) -> bool:
        """True when values after a discharge event are valid (declared, or ordinal by default)."""
        return self.type == "ordinal" if self.after_discharge is None else bool(self.after_discharge)

    @property
    def display(self) -> str:
        """Label with units, e.g. ``"PaO2/FiO2 (mmHg)"``."""
        lab = self.label or self.name
        return f"{lab} ({self.units})" if self.units else lab

    @property
    def higher_is_better(self) -> bool:
        """True when a higher value is a benefit."""
        return self.better != "lower"


@dataclass(frozen=True)
class CovariateInfo:
    """A patient-level covariate (a ``[covariates.<name>]`` table; the name is its column).

    ``type`` is ``"binary"`` (0/1), ``"categorical"`` (values among
    ``levels``; the first level is the reference of a model's dummy coding)
    or ``"numeric"``; ``role`` is ``"stratification"``, ``"matching"`` or
    ``"covariate"``.

    Examples
    --------
    >>> from longmod.data import read_trial_toml
    >>> from longmod.resources import fixtures_dir
    >>> meta = read_trial_toml(fixtures_dir() / "stroma_cov2" / "trial.toml")
    >>> [(c.type, c.role) for c in meta.covariates.values()][:2]
    [('binary', 'stratification'), ('binary', 'stratification')]
    """

    name: str
    type: str = "numeric"
    role: str = "covariate"
    label: str = ""
    levels: tuple = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "levels", tuple(self.levels))


@dataclass(frozen=True)
class EventInfo:
    """An intercurrent event (an ``[events.<name>]`` table).

    ``column`` of the patients table holds the day of the event (empty: no
    event during follow-up); ``kind`` is ``"death"``, ``"discharge"`` or
    ``"other"``; ``censor_column`` optionally holds the last day a patient was
    known to be event-free when it differs from the end of follow-up.

    Examples
    --------
    >>> from longmod.data import read_trial_toml
    >>> from longmod.resources import fixtures_dir
    >>> meta = read_trial_toml(fixtures_dir() / "stroma_cov2" / "trial.toml")
    >>> [(e.name, e.column, e.kind) for e in meta.events.values()]
    [('death', 'death_day', 'death'), ('icu_discharge', 'icu_discharge_day', 'discharge')]
    """

    name: str
    column: str
    kind: str = "other"
    censor_column: str | None = None
    label: str = ""


@dataclass(frozen=True)
class TrialMeta:
    """Trial-level metadata (from ``trial.toml``).

    Attributes
    ----------
    name : str
        Short name, e.g. ``"my-trial"``.
    arms : tuple of str
        Valid arm labels; ``reference_arm`` is the control. Every other arm is
        compared with it.
    schedule : tuple of int
        Days on which measurements may be taken.
    synthetic : bool
        True for pseudo-patient data reconstructed from published summaries.
    doses_planned : int or None
        Doses in the full protocol (per-protocol = all received); when given,
        the patients table needs a ``doses_received`` column.
    variables, covariates, events : mapping
        :class:`VariableInfo`, :class:`CovariateInfo` and :class:`EventInfo` by name.
    baseline_day, primary_outcome, primary_day, followup_days
        The baseline visit (default 0), the primary outcome (a variable) and its
        day, and the administrative end of follow-up for time-to-event analyses.

    Examples
    --------
    >>> meta = TrialMeta(name="t", arms=("drug", "usual_care"), reference_arm="usual_care",
    ...                  schedule=(0, 7), covariates={"frail": CovariateInfo("frail", "binary", "stratification")},
    ...                  events={"death": EventInfo("death", "death_day", "death")})
    >>> meta.active_arms, meta.stratification, meta.patient_columns
    (('drug',), ('frail',), ('patient_id', 'arm', 'frail', 'death_day'))
    """

    name: str
    arms: tuple[str, ...]
    reference_arm: str
    schedule: tuple[int, ...]
    title: str = ""
    synthetic: bool = False
    doses_planned: int | None = None
    variables: Mapping[str, VariableInfo] = field(default_factory=dict)
    source: str = ""
    files: Mapping[str, str] = field(default_factory=dict)
    covariates: Mapping[str, CovariateInfo] = field(default_factory=dict)
    events: Mapping[str, EventInfo] = field(default_factory=dict)
    baseline_day: int = 0
    primary_outcome: str | None = None
    primary_day: int | None = None
    followup_days: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "arms", tuple(str(a) for a in self.arms))
        object.__setattr__(self, "schedule", tuple(int(d) for d in self.schedule))
        for name in ("variables", "files", "covariates", "events"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))

    @property
    def active_arms(self) -> tuple[str, ...]:
        """Arms other than the reference arm, in declared order."""
        return tuple(a for a in self.arms if a != self.reference_arm)

    @property
    def stratification(self) -> tuple[str, ...]:
        """Names (columns) of the stratification covariates, in declared order."""
        return tuple(n for n, c in self.covariates.items() if c.role == "stratification")

    def events_of_kind(self, kind: str) -> tuple[EventInfo, ...]:
        """The declared events of one kind (``"death"``, ``"discharge"``, ``"other"``)."""
        return tuple(e for e in self.events.values() if e.kind == kind)

    @property
    def event_columns(self) -> tuple[str, ...]:
        """Columns of the patients table that hold event days (and censoring days)."""
        cols: list[str] = []
        for e in self.events.values():
            cols += [e.column] + ([e.censor_column] if e.censor_column else [])
        return tuple(dict.fromkeys(cols))

    @property
    def patient_columns(self) -> tuple[str, ...]:
        """Columns the patients table must have, in canonical order."""
        cols = ["patient_id", "arm", *self.covariates, *self.event_columns]
        if self.doses_planned is not None:
            cols.append("doses_received")
        return tuple(dict.fromkeys(cols))

    def variable_info(self, name: str) -> VariableInfo:
        """The declared metadata of a variable (a bare :class:`VariableInfo` when undeclared)."""
        return self.variables.get(name) or VariableInfo(name)

    @classmethod
    def from_mapping(cls, doc: Mapping, *, where: str = "trial.toml") -> "TrialMeta":
        """Build from the parsed ``trial.toml`` document, checking every key and value.

        Raises :class:`~longmod.data.validate.TrialDataError` listing every
        problem (see :func:`longmod.data.trial_toml.meta_from_document`).
        """
        from longmod.data.trial_toml import meta_from_document

        return meta_from_document(doc, where=where)


def check_meta(meta: TrialMeta) -> list[tuple[tuple[str, ...], str]]:
    """Inconsistencies of a :class:`TrialMeta`, as ``(key path, message)`` pairs.

    Examples
    --------
    >>> check_meta(TrialMeta(name="t", arms=("a", "b"), reference_arm="c", schedule=(0, 7)))
    [(('trial', 'reference_arm'), "reference_arm 'c' is not one of the arms; valid: a, b")]
    """
    out: list[tuple[str, str]] = []
    arms = list(meta.arms)
    if len(arms) < 2:
        out.append((("trial", "arms"), f"a trial needs at least two arms, got {arms}"))
    dup = sorted({a for a in arms if arms.count(a) > 1})
    if dup:
        out.append((("trial", "arms"), f"arm(s) listed twice: {', '.join(dup)}"))
    if meta.reference_arm not in arms:
        out.append((("trial", "reference_arm"), f"reference_arm {meta.reference_arm!r} is not one of the arms; valid: {', '.join(arms)}"))
    sched = list(meta.schedule)
    if not sched:
        out.append((("trial", "schedule"), "the schedule lists no day"))
    elif sched != sorted(set(sched)):
        out.append((("trial", "schedule"), f"schedule days must be increasing without repeats, got {sched}"))
    if sched and meta.baseline_day not in sched:
        out.append((("trial", "baseline_day"), f"baseline_day {meta.baseline_day} is not in the schedule {sched}"))
    if meta.primary_day is not None and sched and meta.primary_day not in sched:
        out.append((("trial", "primary_day"), f"primary_day {meta.primary_day} is not in the schedule {sched}"))
    if meta.primary_day is not None and meta.primary_day <= meta.baseline_day:
        out.append((("trial", "primary_day"), f"primary_day {meta.primary_day} must come after baseline_day {meta.baseline_day}"))
    if meta.primary_outcome is not None and meta.variables and meta.primary_outcome not in meta.variables:
        out.append((("trial", "primary_outcome"), f"primary_outcome {meta.primary_outcome!r} is not a declared variable; "
                                             f"declared: {', '.join(meta.variables)}"))
    if meta.doses_planned is not None and (isinstance(meta.doses_planned, bool) or meta.doses_planned < 1):
        out.append((("trial", "doses_planned"), f"doses_planned must be a whole number >= 1, got {meta.doses_planned!r}"))
    if meta.followup_days is not None and meta.followup_days <= 0:
        out.append((("trial", "followup_days"), f"followup_days must be > 0, got {meta.followup_days}"))
    for name, c in meta.covariates.items():
        key = ("covariates", name)
        if not _IDENTIFIER.match(name):
            out.append((key, f"covariate name {name!r} is used as a column in model formulas: use letters, digits, "
                             "'_' and '.', starting with a letter or '_'"))
        if name in RESERVED_COLUMNS:
            out.append((key, f"covariate name {name!r} is reserved by longmod; reserved: {', '.join(RESERVED_COLUMNS)}"))
        if c.type not in COVARIATE_TYPES:
            out.append(((*key, "type"), f"type {c.type!r} is not valid; choose one of {', '.join(COVARIATE_TYPES)}"))
        if c.role not in COVARIATE_ROLES:
            out.append(((*key, "role"), f"role {c.role!r} is not valid; choose one of {', '.join(COVARIATE_ROLES)}"))
        if c.levels and c.type != "categorical":
            out.append(((*key, "levels"), f"levels apply to type 'categorical' only (this covariate is {c.type!r})"))
        lv = [str(x) for x in c.levels]
        if len(set(lv)) < len(lv):
            out.append(((*key, "levels"), f"levels must be distinct, got {list(c.levels)}"))
    seen: dict[str, str] = {}
    for name, e in meta.events.items():
        key = ("events", name)
        if e.kind not in EVENT_KINDS:
            out.append(((*key, "kind"), f"kind {e.kind!r} is not valid; choose one of {', '.join(EVENT_KINDS)}"))
        for attr in ("column", "censor_column"):
            col = getattr(e, attr)
            if col is None:
                continue
            if col in ("patient_id", "arm", "doses_received") or col in meta.covariates:
                out.append(((*key, attr), f"{attr} {col!r} is already used by another column of the patients table"))
            elif attr == "column" and col in seen:
                out.append(((*key, "column"), f"column {col!r} is already the column of event {seen[col]!r}"))
            if attr == "column":
                seen[col] = name
    for name, v in meta.variables.items():
        key = ("variables", name)
        if v.min is not None and v.max is not None and v.min > v.max:
            out.append(((*key, "min"), f"min {v.min:g} is larger than max {v.max:g}"))
        if v.mcid is not None and not v.mcid > 0:
            out.append(((*key, "mcid"), f"mcid must be a positive number, got {v.mcid!r}"))
        if v.better not in BETTER:
            out.append(((*key, "better"), f"better {v.better!r} is not valid; choose one of {', '.join(BETTER)}"))
        if v.type not in VARIABLE_TYPES:
            out.append(((*key, "type"), f"type {v.type!r} is not valid; choose one of {', '.join(VARIABLE_TYPES)}"))
        if v.type == "ordinal" and not v.levels:
            out.append(((*key, "levels"), "an ordinal variable needs levels = [...] (its ordered values)"))
        if v.levels and v.type != "ordinal":
            out.append(((*key, "levels"), "levels apply to type 'ordinal' only"))
    return out
