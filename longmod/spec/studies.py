"""Studies tables: the published summaries a meta-analysis pools, and how each becomes an effect + SE.

A studies file (TOML, beside the plan) has one ``[studies.<id>]`` table per
study (``label``, ``design``, ``citation``) and one ``[outcomes.<id>]`` table
per pooled outcome (``label``, ``measure``, ``better``, ``units``) with an
``[[outcomes.<id>.entries]]`` array: what each study contributes to it.

Each entry names its ``study`` and its ``summary`` kind:

``estimate_ci``
    An estimate with its 95% CI (``estimate``, ``conf_low``, ``conf_high``,
    optional ``df`` when the CI is a t interval, ``log_scale`` for ratios).
``two_means``
    Mean of each arm (``means = [active, control]``), an SD (``sd``, one
    value or one per arm) and the arm sizes (``n``); SE = sqrt(sd1^2/n1 +
    sd2^2/n2).
``counts``
    Events and patients per arm (``events``, ``n``): log odds ratio, 0.5 added
    to every cell of a study with a zero cell.
``survival_percent``
    Percent alive per arm (``percent``) and ``n``: deaths = n (1 - percent/100)
    rounded, accepted only if it prints back as the published percentage
    (to its decimals); then as ``counts``.
``not_reported``
    The study publishes nothing usable for this outcome: listed as excluded
    with its ``reason``.

Numbers may be typed in (with ``quote``, the verbatim source) or taken from
longmod's registry of published results: ``from = "trial:result_id"`` (one
id, whose estimate and CI fill ``estimate_ci``) or a list of ids, one per arm
(whose estimates fill ``means`` or ``percent``). A value that is an
assumption rather than published is declared in ``assumed = ["sd"]`` with
the reasoning in ``note``; ``vary = { sd = [60, 120] }`` lists alternative
values, each run as a sensitivity scenario (one key changed at a time).
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pandas as pd

from longmod.spec.model import SpecError

#: Summary kinds an entry may declare.
SUMMARIES: tuple[str, ...] = ("estimate_ci", "two_means", "counts", "survival_percent", "not_reported")
#: Effect measures of an outcome.
MEASURES: tuple[str, ...] = ("mean_difference", "log_odds_ratio")
_REQUIRED = {"estimate_ci": ("estimate", "conf_low", "conf_high"), "two_means": ("means", "sd", "n"),
             "counts": ("events", "n"), "survival_percent": ("percent", "n"), "not_reported": ("reason",)}
_ENTRY_KEYS = {"study", "summary", "from", "quote", "note", "assumed", "vary", "df", "log_scale", "estimate",
               "conf_low", "conf_high", "means", "sd", "n", "events", "percent", "reason", "statistic"}


class StudiesError(SpecError):
    """Every problem of a studies file, one per line.

    Examples
    --------
    >>> err = StudiesError("studies.toml", ["outcome 'pf': no entries"])
    >>> print(err)
    1 problem(s) in the studies file studies.toml:
      - outcome 'pf': no entries
    >>> err.problems
    ["outcome 'pf': no entries"]
    """

    def __init__(self, where: str, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join([f"{len(problems)} problem(s) in the studies file {where}:",
                                    *(f"  - {p}" for p in problems)]))


@dataclass(frozen=True)
class Entry:
    """What one study contributes to one outcome (values as declared, before conversion).

    Examples
    --------
    >>> e = Entry("trial_a", "estimate_ci", {"estimate": 12.0, "conf_low": -3.0, "conf_high": 27.0})
    >>> e.get("estimate"), e.get("df", "not declared")
    (12.0, 'not declared')
    """

    study: str
    summary: str
    values: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", MappingProxyType(dict(self.values)))

    def get(self, key: str, default=None):
        """A declared value."""
        return self.values.get(key, default)


@dataclass(frozen=True)
class OutcomeSpec:
    """One pooled outcome: its measure, direction of benefit and the entries of the studies.

    Examples
    --------
    >>> o = OutcomeSpec("death_d28", "Death by day 28", "log_odds_ratio", "lower", "", ())
    >>> o.higher_is_better
    False
    """

    name: str
    label: str
    measure: str
    better: str
    units: str
    entries: tuple[Entry, ...]
    day: float | None = None

    @property
    def higher_is_better(self) -> bool:
        """Direction of benefit on the analysis scale (MSC - control; log OR of death: lower)."""
        return self.better == "higher"


@dataclass(frozen=True)
class StudiesSpec:
    """A parsed studies file.

    Examples
    --------
    >>> from longmod.resources import models_dir
    >>> spec = load_studies(models_dir() / "msc_meta" / "studies.toml")
    >>> list(spec.outcomes)
    ['pf_change_d7', 'death_d28']
    >>> spec.outcome("sofa")
    Traceback (most recent call last):
    ...
    KeyError: "outcome 'sofa' is not declared in the studies file; declared: pf_change_d7, death_d28"
    """

    studies: Mapping[str, Mapping[str, Any]]
    outcomes: Mapping[str, OutcomeSpec]
    path: Path | None = None

    def outcome(self, name: str) -> OutcomeSpec:
        """The outcome ``name``; a KeyError lists the declared ones."""
        if name not in self.outcomes:
            raise KeyError(f"outcome {name!r} is not declared in the studies file; declared: {', '.join(self.outcomes)}")
        return self.outcomes[name]

    def label(self, study: str) -> str:
        """Display name of a study."""
        return str(self.studies.get(study, {}).get("label", study))


def _registry_value(ref: str, where: str, problems: list[str]):
    from longmod.published import published_results

    trial, _, rid = str(ref).partition(":")
    try:
        results = {r.id: r for r in published_results(trial)}
    except KeyError as exc:
        problems.append(f"{where}: from = {ref!r}: {exc.args[0]}")
        return None
    if rid not in results:
        problems.append(f"{where}: from = {ref!r}: no result {rid!r} for {trial!r}; results: {', '.join(results)}")
        return None
    return results[rid]


def _resolve(entry: dict, where: str, problems: list[str]) -> dict:
    """Fill an entry's numbers from the registry (``from``) and return its values."""
    v = {k: val for k, val in entry.items() if k not in ("study", "summary")}
    ref = v.get("from")
    if ref is None:
        return v
    kind = entry.get("summary")
    refs = ref if isinstance(ref, list) else [ref]
    found = [_registry_value(r, where, problems) for r in refs]
    if any(f is None for f in found):
        return v
    quotes = [f.quote for f in found]
    if kind == "estimate_ci":
        if len(found) != 1 or found[0].conf_low is None:
            problems.append(f"{where}: from = {ref!r} must name one published result with a CI for estimate_ci")
            return v
        f = found[0]
        v.update(estimate=f.estimate, conf_low=f.conf_low, conf_high=f.conf_high)
    elif kind in ("two_means", "survival_percent"):
        if len(found) != 2:
            problems.append(f"{where}: from = {ref!r} must list two published results, active arm then control")
            return v
        v["means" if kind == "two_means" else "percent"] = [float(f.estimate) for f in found]
    else:
        problems.append(f"{where}: from = is not used with summary {kind!r} (type the numbers with their quote)")
    v.setdefault("quote", " / ".join(quotes))
    return v


def _check_entry(e: dict, values: dict, where: str, problems: list[str]) -> None:
    kind = e.get("summary")
    if kind not in SUMMARIES:
        problems.append(f"{where}: summary = {kind!r} is not one of {', '.join(SUMMARIES)}")
        return
    unknown = sorted(set(e) - _ENTRY_KEYS)
    if unknown:
        problems.append(f"{where}: unknown key(s) {', '.join(unknown)}; valid: {', '.join(sorted(_ENTRY_KEYS))}")
    for k in _REQUIRED[kind]:
        if k not in values:
            problems.append(f"{where}: summary {kind!r} needs {k!r}" + (" (or from = ...)" if kind != "not_reported" else ""))
    for k in ("means", "events", "percent"):
        if k in values and not (isinstance(values[k], list) and len(values[k]) == 2):
            problems.append(f"{where}: {k} must be [active arm, control arm], got {values[k]!r}")
    if "n" in values and not (isinstance(values["n"], list) and len(values["n"]) == 2
                              and all(isinstance(x, int) and x > 0 for x in values["n"])):
        problems.append(f"{where}: n must be [active arm, control arm] positive whole numbers, got {values['n']!r}")
    for k in e.get("assumed", []):
        if k not in values:
            problems.append(f"{where}: assumed = [{k!r}] but {k!r} is not set")
    for k, alts in dict(e.get("vary", {})).items():
        if k not in values:
            problems.append(f"{where}: vary.{k} but {k!r} is not set")
        elif not isinstance(alts, list) or not alts:
            problems.append(f"{where}: vary.{k} must be a non-empty list of alternative values")
        elif k not in e.get("assumed", []):
            problems.append(f"{where}: vary.{k}: only an assumed value is varied; add {k!r} to assumed")


def parse_studies(doc: Mapping[str, Any], *, where: str = "studies", path: Path | None = None) -> StudiesSpec:
    """Check a parsed studies document, fill registry references and build the :class:`StudiesSpec`.

    Examples
    --------
    >>> doc = {"studies": {"a": {"label": "Trial A"}, "b": {}},
    ...        "outcomes": {"pf": {"measure": "mean_difference", "better": "higher", "entries": [
    ...            {"study": "a", "summary": "estimate_ci", "from": "stroma-cov2:primary_ancova", "df": 40},
    ...            {"study": "b", "summary": "two_means", "means": [80.0, 60.0], "sd": 90, "n": [10, 10],
    ...             "assumed": ["sd"], "vary": {"sd": [60, 120]}}]}}}
    >>> spec = parse_studies(doc)
    >>> spec.outcome("pf").entries[0].get("estimate"), spec.label("a")
    (7.4, 'Trial A')
    """
    problems: list[str] = []
    studies = dict(doc.get("studies", {}))
    outcomes = {}
    for name, o in dict(doc.get("outcomes", {})).items():
        ow = f"{where}: [outcomes.{name}]"
        if o.get("measure") not in MEASURES:
            problems.append(f"{ow}: measure = {o.get('measure')!r} is not one of {', '.join(MEASURES)}")
        if o.get("better") not in ("higher", "lower"):
            problems.append(f"{ow}: better must be 'higher' or 'lower' (direction of benefit on the analysis scale), "
                            f"got {o.get('better')!r}")
        entries = []
        seen = set()
        for i, e in enumerate(o.get("entries", [])):
            ew = f"{ow} entry {i + 1} ({e.get('study', '?')})"
            if e.get("study") not in studies:
                problems.append(f"{ew}: study {e.get('study')!r} is not a [studies.*] table; declared: {', '.join(studies)}")
            if e.get("study") in seen:
                problems.append(f"{ew}: study {e.get('study')!r} has two entries for this outcome")
            seen.add(e.get("study"))
            values = _resolve(dict(e), ew, problems)
            _check_entry(dict(e), values, ew, problems)
            entries.append(Entry(str(e.get("study")), str(e.get("summary")), values))
        if not entries:
            problems.append(f"{ow}: no entries (one [[outcomes.{name}.entries]] per study)")
        outcomes[name] = OutcomeSpec(name, str(o.get("label", name)), str(o.get("measure")), str(o.get("better")),
                                     str(o.get("units", "")), tuple(entries), o.get("day"))
    if not outcomes:
        problems.append(f"{where}: no [outcomes.*] table")
    if problems:
        raise StudiesError(where, problems)
    return StudiesSpec(MappingProxyType(studies), MappingProxyType(outcomes), path)


def load_studies(path: str | Path) -> StudiesSpec:
    """Read and check a studies file (see the module docstring for its format).

    Examples
    --------
    >>> from longmod.resources import models_dir
    >>> spec = load_studies(models_dir() / "msc_meta" / "studies.toml")
    >>> o = spec.outcome("pf_change_d7")
    >>> o.measure, o.better, len(o.entries) > 1
    ('mean_difference', 'higher', True)
    >>> load_studies("no_such_studies.toml")
    Traceback (most recent call last):
    ...
    FileNotFoundError: studies file no_such_studies.toml not found
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"studies file {path} not found")
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise StudiesError(str(path), [f"not valid TOML: {exc}"]) from None
    return parse_studies(doc, where=str(path), path=path)


# --- conversion ------------------------------------------------------------------------------------------------


def _counts_from_percent(percent: list[float], n: list[int], quote: str) -> tuple[list[int], str]:
    deaths = []
    for p, k in zip(percent, n):
        d = round(k * (1 - p / 100.0))
        decimals = len(str(p).split(".")[1]) if "." in str(p) and not float(p).is_integer() else 0
        back = round(100.0 * (k - d) / k, decimals)
        if not math.isclose(back, float(p), abs_tol=10 ** -decimals / 2 + 1e-9):
            raise ValueError(f"{p}% of {k} is not a whole number of patients ({k - d}/{k} = {100 * (k - d) / k:.3g}%)")
        deaths.append(int(d))
    return deaths, f"deaths = n x (1 - % alive) = {deaths[0]}/{n[0]} vs {deaths[1]}/{n[1]}"


def convert_entry(entry: Entry, measure: str, overrides: Mapping[str, Any] | None = None) -> dict:
    """One entry's effect on the analysis scale: ``estimate``, ``std_error``, ``n_patients``, ``conversion``.

    Parameters
    ----------
    entry : Entry
    measure : {"mean_difference", "log_odds_ratio"}
    overrides : mapping, optional
        Values replacing the declared ones (a sensitivity scenario).

    Returns
    -------
    dict
        ``estimate``, ``std_error`` (NaN when not estimable), ``n_patients``,
        ``conversion`` (how the number was obtained), ``assumptions`` (the
        assumed values used, as text), ``status`` (``"used"`` or
        ``"excluded: <reason>"``).

    Examples
    --------
    >>> e = Entry("b", "two_means", {"means": [83.3, 57.6], "sd": 90, "n": [10, 10], "assumed": ["sd"]})
    >>> r = convert_entry(e, "mean_difference")
    >>> round(r["estimate"], 1), round(r["std_error"], 2), r["assumptions"]
    (25.7, 40.25, 'sd = 90')
    >>> convert_entry(e, "mean_difference", {"sd": 60})["std_error"] < r["std_error"]
    True
    """
    from longmod.engines.meta.convert import from_ci, log_odds_ratio, mean_difference

    v = {**dict(entry.values), **dict(overrides or {})}
    assumed = "; ".join(f"{k} = {v[k]}" for k in v.get("assumed", []))
    n = v.get("n")
    npat = float(sum(n)) if n else math.nan
    out = {"n_patients": npat, "assumptions": assumed, "status": "used"}
    kind = entry.summary
    if kind == "not_reported":
        return {**out, "estimate": math.nan, "std_error": math.nan, "conversion": "",
                "status": f"excluded: {v['reason']}"}
    if kind == "estimate_ci":
        if measure == "log_odds_ratio" and not v.get("log_scale"):
            raise ValueError(f"study {entry.study!r}: an odds ratio with its CI needs log_scale = true")
        eff = from_ci(float(v["estimate"]), float(v["conf_low"]), float(v["conf_high"]), df=v.get("df"),
                      log_scale=bool(v.get("log_scale")))
        return {**out, "estimate": eff.estimate, "std_error": eff.std_error,
                "conversion": eff.method + (f"; {eff.note}" if eff.note else "")}
    if kind == "two_means":
        if measure != "mean_difference":
            raise ValueError(f"study {entry.study!r}: two_means gives a mean difference, not {measure}")
        sd = v["sd"] if isinstance(v["sd"], list) else [v["sd"], v["sd"]]
        m = v["means"]
        eff = mean_difference(float(m[0]), float(sd[0]), n[0], float(m[1]), float(sd[1]), n[1])
        return {**out, "estimate": eff.estimate, "std_error": eff.std_error,
                "conversion": f"{m[0]:g} - {m[1]:g}; SE = sqrt(sd1^2/n1 + sd2^2/n2) with SD {sd[0]:g}/{sd[1]:g}, "
                              f"n {n[0]}/{n[1]}"}
    if measure != "log_odds_ratio":
        raise ValueError(f"study {entry.study!r}: {kind} gives a log odds ratio, not {measure}")
    pre = ""
    events = v.get("events")
    if kind == "survival_percent":
        events, pre = _counts_from_percent(list(v["percent"]), list(n), str(v.get("quote", "")))
        pre += "; "
    eff = log_odds_ratio(int(events[0]), n[0], int(events[1]), n[1])
    status = "used" if math.isfinite(eff.estimate) else f"excluded: {eff.note}"
    return {**out, "estimate": eff.estimate, "std_error": eff.std_error, "status": status,
            "conversion": f"{pre}log odds ratio from {events[0]}/{n[0]} vs {events[1]}/{n[1]} ({eff.method})"}


def scenarios(outcome: OutcomeSpec) -> list[tuple[str, dict[str, dict]]]:
    """The base case and one sensitivity scenario per varied assumption value.

    Returns
    -------
    list of (name, overrides)
        ``("base", {})`` first, then ``("<study>: <key> = <value>", {study: {key: value}})``.

    Examples
    --------
    >>> o = OutcomeSpec("pf", "pf", "mean_difference", "higher", "", (
    ...     Entry("b", "two_means", {"sd": 90, "assumed": ["sd"], "vary": {"sd": [60, 120]}}),))
    >>> [s[0] for s in scenarios(o)]
    ['base', 'b: sd = 60', 'b: sd = 120']
    """
    out: list[tuple[str, dict[str, dict]]] = [("base", {})]
    for e in outcome.entries:
        for key, alts in dict(e.get("vary", {}) or {}).items():
            for alt in alts:
                out.append((f"{e.study}: {key} = {alt}", {e.study: {key: alt}}))
    return out


def study_table(spec: StudiesSpec, outcome: str, overrides: Mapping[str, Mapping[str, Any]] | None = None) -> pd.DataFrame:
    """Every entry of ``outcome`` converted: one row per study, used or excluded.

    Returns
    -------
    pandas.DataFrame
        ``study``, ``label``, ``summary``, ``estimate``, ``std_error``,
        ``n_patients``, ``conversion``, ``assumptions``, ``status``
        (``used`` / ``excluded: ...``), ``note``, ``quote``; in the file's order.

    Examples
    --------
    >>> doc = {"studies": {"a": {}, "b": {}, "c": {}},
    ...        "outcomes": {"death": {"measure": "log_odds_ratio", "better": "lower", "entries": [
    ...            {"study": "a", "summary": "counts", "events": [0, 5], "n": [8, 24]},
    ...            {"study": "b", "summary": "counts", "events": [0, 0], "n": [10, 10]},
    ...            {"study": "c", "summary": "not_reported", "reason": "no deaths reported"}]}}}
    >>> t = study_table(parse_studies(doc), "death")
    >>> t["status"].tolist()
    ['used', 'excluded: no events (or only events) in both arms: log odds ratio not estimable', 'excluded: no deaths reported']
    """
    o = spec.outcome(outcome)
    rows = []
    for e in o.entries:
        r = convert_entry(e, o.measure, (overrides or {}).get(e.study))
        rows.append({"study": e.study, "label": spec.label(e.study), "summary": e.summary, **r,
                     "note": str(e.get("note", "")), "quote": str(e.get("quote", ""))})
    cols = ["study", "label", "summary", "estimate", "std_error", "n_patients", "conversion", "assumptions", "status",
            "note", "quote"]
    return pd.DataFrame(rows, columns=cols)
