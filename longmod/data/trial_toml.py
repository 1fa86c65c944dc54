"""Read and check ``trial.toml`` (version 2): every key, its type and its value, each problem with its line.

The accepted keys are data (:data:`SCHEMA`); the docs' trial-format page is
generated from it, so the page and the checks cannot drift apart.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from longmod.data.meta import (
    BETTER, COVARIATE_ROLES, COVARIATE_TYPES, EVENT_KINDS, VARIABLE_TYPES, CovariateInfo, EventInfo, TrialMeta,
    VariableInfo, check_meta,
)
from longmod.data.validate import Problem, TrialDataError


@dataclass(frozen=True)
class Key:
    """One accepted key of a ``trial.toml`` table: its type, whether it is required, its default and meaning."""

    name: str
    type: str  # "str", "int", "number", "bool", "list[str]", "list[int]", "list"
    required: bool
    default: Any
    doc: str
    example: str = ""


#: Table -> accepted keys. ``<name>`` tables (covariates, events, variables) repeat once per item.
SCHEMA: Mapping[str, tuple[Key, ...]] = {
    "trial": (
        Key("name", "str", True, None, "short name of the trial (used in reports and output names)", '"my-trial"'),
        Key("title", "str", False, "", "one-line title shown in reports", '"Drug A vs usual care in ARDS"'),
        Key("synthetic", "bool", False, False, "true for longmod's reconstructed pseudo-patient data (reports say "
            "SYNTHETIC on every page)", "false"),
        Key("arms", "list[str]", True, None, "the arm labels used in the patients table's `arm` column; every arm "
            "other than `reference_arm` is compared with it", '["drug", "usual_care"]'),
        Key("reference_arm", "str", True, None, "the control arm, one of `arms`", '"usual_care"'),
        Key("schedule", "list[int]", True, None, "days on which measurements may be taken (increasing)",
            "[0, 3, 7, 14, 28]"),
        Key("baseline_day", "int", False, 0, "the baseline visit (changes are measured from it)", "0"),
        Key("primary_outcome", "str", False, None, "the primary outcome, a `[variables.*]` name (used by "
            "`longmod plan init`)", '"pf_ratio"'),
        Key("primary_day", "int", False, None, "the day of the primary endpoint (a scheduled day)", "7"),
        Key("doses_planned", "int", False, None, "doses of the full protocol; when given, the patients table needs "
            "`doses_received` (per-protocol population = every dose received)", "3"),
        Key("followup_days", "int", False, None, "administrative end of follow-up for time-to-event analyses", "28"),
        Key("source", "str", False, "", "citation of the trial's publication", '"Doe J, et al. 2024"'),
    ),
    "files": (
        Key("patients", "str", False, "patients.csv", "one row per patient: `patient_id`, `arm`, the declared "
            "covariates and event-day columns (`.csv` or `.parquet`)", '"patients.csv"'),
        Key("measurements", "str", False, "measurements.csv", "long format: `patient_id, day, variable, value` "
            "and optionally `lloq`", '"measurements.csv"'),
    ),
    "covariates.<name>": (
        Key("type", "str", True, None, f"one of {', '.join(COVARIATE_TYPES)}: binary = 0/1, categorical = one of "
            "`levels`, numeric = a number", '"binary"'),
        Key("role", "str", False, "covariate", f"one of {', '.join(COVARIATE_ROLES)}: stratification factors are "
            "what the protocol's ANCOVA adjusts for; matching names matched-set ids", '"stratification"'),
        Key("label", "str", False, "", "shown in reports", '"Age > 70 years"'),
        Key("levels", "list", False, None, "categorical only: the allowed values, the first is the reference "
            "(default: the sorted values found)", '["north", "south"]'),
    ),
    "events.<name>": (
        Key("column", "str", True, None, "the patients-table column holding the event's day (empty = no event)",
            '"death_day"'),
        Key("kind", "str", True, None, f"one of {', '.join(EVENT_KINDS)}: estimands choose a strategy per kind",
            '"death"'),
        Key("censor_column", "str", False, None, "column with the last day known event-free, when it differs from "
            "the end of follow-up", '"last_seen_day"'),
        Key("label", "str", False, "", "shown in reports", '"Death"'),
    ),
    "variables.<name>": (
        Key("label", "str", False, "", "shown in reports", '"PaO2/FiO2"'),
        Key("units", "str", False, "", "shown in reports", '"mmHg"'),
        Key("min", "number", False, None, "smallest plausible value (smaller values are errors)", "20"),
        Key("max", "number", False, None, "largest plausible value", "700"),
        Key("baseline_required", "bool", False, False, "every patient needs a baseline value", "true"),
        Key("hint", "str", False, "", "added to out-of-range messages", '"a fraction, not a percentage"'),
        Key("mcid", "number", False, None, "minimal clinically important difference; absent = none (no P(>MCID), "
            "no MCID-scaled prior)", "20"),
        Key("better", "str", False, "higher", f"direction of benefit, one of {', '.join(BETTER)}", '"higher"'),
        Key("type", "str", False, "continuous", f"one of {', '.join(VARIABLE_TYPES)}", '"continuous"'),
        Key("levels", "list", False, None, "ordinal only: the ordered values", "[0, 1, 2, 3, 4]"),
    ),
}

_HEADER = re.compile(r"^\s*\[(?!\[)\s*(.+?)\s*\]\s*(#.*)?$")
_KEYLINE = re.compile(r"""^\s*("(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z0-9_-]+)\s*=""")


def _split_dotted(text: str) -> tuple[str, ...]:
    parts, buf, quote = [], "", None
    for ch in text:
        if quote:
            if ch == quote:
                quote = None
            else:
                buf += ch
        elif ch in "\"'":
            quote = ch
        elif ch == ".":
            parts.append(buf.strip())
            buf = ""
        else:
            buf += ch
    parts.append(buf.strip())
    return tuple(parts)


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Map each table header and key of a TOML text to its 1-based line number.

    Examples
    --------
    >>> key_lines('[trial]\\nname = "x"\\n[variables."IL-6"]\\nmin = 0\\n')[("variables", "IL-6", "min")]
    4
    """
    out: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    for i, line in enumerate(text.splitlines(), start=1):
        h = _HEADER.match(line)
        if h:
            table = _split_dotted(h.group(1))
            out.setdefault(table, i)
            continue
        k = _KEYLINE.match(line)
        if k:
            out.setdefault(table + (k.group(1).strip("\"'"),), i)
    return out


def _line(lines: Mapping[tuple[str, ...], int], path: tuple[str, ...]) -> int | None:
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return None


def _type_ok(value: Any, kind: str) -> bool:
    if kind == "str":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "list[str]":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == "list[int]":
        return isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    if kind == "list":
        return isinstance(value, list) and all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value)
    raise ValueError(kind)


_TYPE_WORDS = {"str": "a string", "bool": "true or false", "int": "a whole number", "number": "a number",
               "list[str]": "a list of strings", "list[int]": "a list of whole numbers",
               "list": "a list of strings or numbers"}


def _check_table(table: Any, keys: tuple[Key, ...], path: tuple[str, ...], report) -> dict[str, Any]:
    """Type-checked values of one table; problems go to ``report(path, message)``."""
    where = "[" + ".".join(f'"{p}"' if not re.match(r"^[A-Za-z0-9_-]+$", p) else p for p in path) + "]"
    if not isinstance(table, Mapping):
        report(path, f"{where} must be a table")
        return {}
    known = {k.name: k for k in keys}
    out = {}
    for name, value in table.items():
        if name not in known:
            report(path + (name,), f"unknown key {name!r} in {where}; valid keys: {', '.join(known)}")
            continue
        k = known[name]
        if not _type_ok(value, k.type):
            report(path + (name,), f"{name} must be {_TYPE_WORDS[k.type]}, got {value!r}")
            continue
        out[name] = value
    for k in keys:
        if k.required and k.name not in table:
            report(path, f"{where} needs '{k.name}' ({k.doc}), e.g. {k.name} = {k.example}")
    return out


def meta_from_document(doc: Mapping[str, Any], *, where: str = "trial.toml", text: str | None = None) -> TrialMeta:
    """Check a parsed ``trial.toml`` document and build its :class:`TrialMeta`.

    Parameters
    ----------
    doc : mapping
        The parsed TOML.
    where : str
        Name of the file in messages.
    text : str, optional
        The TOML text, to give each problem its line number.

    Raises
    ------
    TrialDataError
        Listing every problem: unknown tables or keys (with the valid ones),
        wrong types, invalid choices, inconsistencies (a reference arm that is
        not an arm, a primary day off the schedule, ...).

    Examples
    --------
    >>> doc = tomllib.loads('[trial]\\nname = "t"\\narms = ["a", "b"]\\nreference_arm = "c"\\nschedul = [0, 7]\\n')
    >>> meta_from_document(doc, text='[trial]\\nname = "t"\\narms = ["a", "b"]\\nreference_arm = "c"\\nschedul = [0, 7]\\n')
    Traceback (most recent call last):
    ...
    longmod.data.validate.TrialDataError: 2 problem(s) in the trial data:
      - trial.toml, line 5, key 'trial.schedul': unknown key 'schedul' in [trial]; valid keys: name, title, synthetic, arms, reference_arm, schedule, baseline_day, primary_outcome, primary_day, doses_planned, followup_days, source
      - trial.toml, line 1, key 'trial': [trial] needs 'schedule' (days on which measurements may be taken (increasing)), e.g. schedule = [0, 3, 7, 14, 28]
    """
    lines = key_lines(text) if text is not None else {}
    problems: list[Problem] = []

    def report(path: tuple[str, ...], message: str) -> None:
        problems.append(Problem(where, _line(lines, path), ".".join(path), message))

    for top in doc:
        if top not in ("trial", "files", "covariates", "events", "variables"):
            report((top,), f"unknown table [{top}]; valid tables: [trial], [files], [covariates.<name>], "
                           "[events.<name>], [variables.<name>]")
    if "trial" not in doc:
        report(("trial",), "no [trial] table; it needs name, arms, reference_arm and schedule")
    trial = _check_table(doc.get("trial", {}), SCHEMA["trial"], ("trial",), report)
    files = _check_table(doc.get("files", {}), SCHEMA["files"], ("files",), report)
    groups: dict[str, dict[str, dict[str, Any]]] = {}
    for group in ("covariates", "events", "variables"):
        raw = doc.get(group, {})
        if not isinstance(raw, Mapping):
            report((group,), f"[{group}] must hold one table per item, e.g. [{group}.<name>]")
            raw = {}
        groups[group] = {name: _check_table(t, SCHEMA[f"{group}.<name>"], (group, name), report)
                         for name, t in raw.items()}
    if problems and any(k not in trial for k in ("name", "arms", "reference_arm", "schedule")):
        raise TrialDataError(problems)
    covariates = {}
    for name, c in groups["covariates"].items():
        if "type" not in c:
            continue
        covariates[name] = CovariateInfo(name=name, **c)
    events = {}
    for name, e in groups["events"].items():
        if "column" not in e or "kind" not in e:
            continue
        events[name] = EventInfo(name=name, **e)
    variables = {name: VariableInfo(name=name, **v) for name, v in groups["variables"].items()}
    meta = TrialMeta(covariates=covariates, events=events, variables=variables, files=files, **trial)
    for path, message in check_meta(meta):
        report(path, message)
    if problems:
        raise TrialDataError(problems)
    return meta


def read_trial_toml(path: str | Path) -> TrialMeta:
    """Read and check a ``trial.toml`` file.

    Raises
    ------
    TrialDataError
        A missing or unreadable file, invalid TOML (with its line and column),
        or any problem found by :func:`meta_from_document`.

    Examples
    --------
    >>> from longmod.resources import fixtures_dir
    >>> meta = read_trial_toml(fixtures_dir() / "stroma_cov2" / "trial.toml")
    >>> meta.reference_arm in meta.arms, meta.primary_day
    (True, 7)
    """
    path = Path(path)
    if not path.is_file():
        raise TrialDataError([Problem(str(path), None, None, "file not found; a trial folder needs a trial.toml")])
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TrialDataError([Problem(str(path), None, None, f"not UTF-8 text ({exc.reason} at byte {exc.start}); "
                                                             "save the file as UTF-8")]) from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TrialDataError([Problem(str(path), None, None, f"not valid TOML: {exc}")]) from None
    return meta_from_document(doc, where=str(path), text=text)
