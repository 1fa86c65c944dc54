"""Analysis plans: a trial's estimands and analyses, declared in TOML.

A plan file (``plan.toml`` beside a trial's data, or
``models/<trial>/plan.toml`` for a bundled trial) has an optional ``[plan]``
table, ``[estimands.<name>]`` tables (see :class:`~longmod.spec.estimand.Estimand`)
and an ``[[analyses]]`` array. Each analysis has a ``name``, a ``kind`` (one
of :data:`longmod.pipeline.registry.KINDS`), the ``estimand`` it targets and
kind-specific options. The treatment comparison is not part of the plan: it
comes from the trial's ``arms`` and ``reference_arm``. The docs' plan-format
page lists every key, generated from the registry.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from longmod.spec.estimand import Estimand
from longmod.spec.model import SpecError

#: Keys of the ``[plan]`` table: name -> meaning.
PLAN_KEYS: Mapping[str, str] = MappingProxyType({
    "trial": "name of the trial the plan was written for (informative; the data decide what is analysed)",
    "published": "key of longmod's registry of published results (`longmod.published`) to show beside the "
                 "reproduced ones",
    "title": "a title for the plan, shown in reports",
})
#: Keys of older plans, with what replaced them.
_RETIRED = {
    "fixture": "the data come from the trial folder (or bundled trial name) given to `longmod reanalyse`",
    "treatment": "the comparison comes from trial.toml's arms and reference_arm (every active arm vs the reference)",
    "mcid": "declare the MCID of each outcome in trial.toml ([variables.<name>] mcid = ...)",
}


class PlanError(SpecError):
    """Every problem of a plan, one per line."""

    def __init__(self, where: str, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join([f"{len(problems)} problem(s) in the analysis plan {where}:",
                                    *(f"  - {p}" for p in problems)]))


@dataclass(frozen=True)
class Analysis:
    """One declared analysis of a plan."""

    name: str
    kind: str
    estimand: str | None
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))

    @property
    def label(self) -> str:
        """The plan's label, else the name."""
        return str(self.options.get("label", self.name))


@dataclass(frozen=True)
class AnalysisPlan:
    """A trial's declared analysis plan.

    Attributes
    ----------
    estimands : mapping of str to Estimand
    analyses : tuple of Analysis
    path : pathlib.Path or None
        File the plan was read from (model spec files are resolved next to
        it); None for a plan built in memory.
    trial : str or None
        Trial the plan was written for (informative).
    published : str or None
        Key of the published-results registry.
    title : str
    """

    estimands: Mapping[str, Estimand]
    analyses: tuple[Analysis, ...]
    path: Path | None = None
    trial: str | None = None
    published: str | None = None
    title: str = ""

    def analysis_names(self) -> list[str]:
        """Names of the declared analyses, in order."""
        return [a.name for a in self.analyses]

    @property
    def folder(self) -> Path:
        """Folder relative to which the plan's files are resolved."""
        return self.path.parent if self.path is not None else Path.cwd()

    def select(self, only: list[str] | None) -> "AnalysisPlan":
        """The plan restricted to the analyses named in ``only`` (every one when None)."""
        import dataclasses

        if only is None:
            return self
        return dataclasses.replace(self, analyses=tuple(a for a in self.analyses if a.name in only))


_TYPE_WORDS = {"str": "text", "number": "a number", "bool": "true or false", "list[str]": "a list of text values",
               "list[int]": "a list of whole numbers", "table": "a table { ... }",
               "str|table": "text or a table { ... }"}


def _type_ok(value: Any, kind: str) -> bool:
    if kind == "str":
        return isinstance(value, str)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "list[str]":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == "list[int]":
        return isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    if kind == "table":
        return isinstance(value, Mapping)
    return isinstance(value, (str, Mapping))


def _analysis_lines(text: str | None) -> list[int]:
    if not text:
        return []
    return [i for i, line in enumerate(text.splitlines(), start=1) if re.match(r"^\s*\[\[\s*analyses\s*\]\]", line)]


def plan_from_mapping(doc: Mapping[str, Any], *, where: str = "plan", path: Path | None = None,
                      text: str | None = None) -> AnalysisPlan:
    """Check a parsed plan document and build the :class:`AnalysisPlan`.

    Every analysis must name a registered kind, only that kind's options
    (each of its declared type) and, where the kind needs one, a declared
    estimand; names must be unique. All problems are reported together.

    Examples
    --------
    >>> doc = {"estimands": {"e": {"outcome": "y", "day": 7}},
    ...        "analyses": [{"name": "a", "kind": "ancova", "estimand": "e", "covariate": ["baseline"]}]}
    >>> plan_from_mapping(doc)
    Traceback (most recent call last):
    ...
    longmod.spec.plan.PlanError: 1 problem(s) in the analysis plan plan:
      - analysis 'a' (ancova): unknown option 'covariate'; valid: covariates, published (and name, kind, estimand, label)
    """
    from longmod.pipeline.registry import COMMON_OPTIONS, KINDS

    problems: list[str] = []
    lines = _analysis_lines(text)
    for top in doc:
        if top not in ("plan", "estimands", "analyses"):
            problems.append(f"unknown table [{top}]; a plan has [plan], [estimands.<name>] and [[analyses]]")
    head = dict(doc.get("plan", {}))
    for key in list(head):
        if key in _RETIRED:
            problems.append(f"[plan] {key} is no longer used: {_RETIRED[key]}")
            head.pop(key)
        elif key not in PLAN_KEYS:
            problems.append(f"[plan] has unknown key {key!r}; valid keys: {', '.join(PLAN_KEYS)}")
        elif not isinstance(head[key], str):
            problems.append(f"[plan] {key} must be text, got {head[key]!r}")
    estimands = {}
    for name, e in dict(doc.get("estimands", {})).items():
        try:
            estimands[name] = Estimand.from_mapping(name, e, where="estimands")
        except (SpecError, TypeError) as exc:
            problems.append(str(exc))
    analyses = []
    common = {o.name: o for o in COMMON_OPTIONS}
    for i, a in enumerate(doc.get("analyses", [])):
        a = dict(a)
        at = f" (line {lines[i]})" if i < len(lines) else ""
        name = a.pop("name", None)
        if not isinstance(name, str) or not name:
            problems.append(f"analysis {i + 1}{at}: needs a name (text), e.g. name = \"primary_ancova\"")
            name = f"analysis {i + 1}"
        where_a = f"analysis {name!r}{at}"
        kind = a.pop("kind", None)
        if kind not in KINDS:
            problems.append(f"{where_a}: kind {kind!r} is not supported; choose one of {', '.join(KINDS)}")
            continue
        k = KINDS[kind]
        where_a = f"analysis {name!r} ({kind}){at}"
        est = a.pop("estimand", None)
        if est is not None and est not in estimands:
            problems.append(f"{where_a}: targets estimand {est!r}, which is not declared; declared: "
                            f"{', '.join(estimands) or 'none'}")
        if k.estimand == "required" and est is None:
            problems.append(f"{where_a}: needs an estimand (one of {', '.join(estimands) or 'none declared'})")
        if k.estimand == "none" and est is not None:
            problems.append(f"{where_a}: takes no estimand")
        for opt, value in a.items():
            o = common.get(opt) if opt == "label" else next((x for x in k.options if x.name == opt), None)
            if o is None:
                problems.append(f"{where_a}: unknown option {opt!r}; valid: {', '.join(k.option_names) or 'none'} "
                                "(and name, kind, estimand, label)")
            elif not _type_ok(value, o.type):
                problems.append(f"{where_a}: {opt} must be {_TYPE_WORDS[o.type]}, got {value!r}")
        for o in k.options:
            if o.required and o.name not in a:
                problems.append(f"{where_a}: needs {o.name} ({o.doc}), e.g. {o.name} = {o.example}")
        if "spec" in a and "model" in a:
            problems.append(f"{where_a}: give either spec (a file) or model (inline), not both")
        analyses.append(Analysis(name, kind, est, a))
    names = [a.name for a in analyses]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        problems.append(f"analysis names must be unique; repeated: {', '.join(dup)}")
    if problems:
        raise PlanError(where, problems)
    return AnalysisPlan(estimands=MappingProxyType(estimands), analyses=tuple(analyses), path=path,
                        trial=head.get("trial"), published=head.get("published"), title=head.get("title", ""))


def load_plan(path: str | Path) -> AnalysisPlan:
    """Read and check an analysis plan file.

    Raises
    ------
    PlanError
        Listing every problem: invalid TOML, unknown kinds, options or keys
        (with the valid ones), options of the wrong type, undeclared
        estimands, repeated names.

    Examples
    --------
    >>> from longmod.resources import models_dir
    >>> plan = load_plan(models_dir() / "stroma_cov2" / "plan.toml")
    >>> plan.analyses[0].name, plan.estimands["primary"].discharge.factor
    ('primary_ancova', 1.1)
    """
    path = Path(path)
    if not path.is_file():
        raise PlanError(str(path), ["file not found"])
    try:
        text = path.read_bytes().decode("utf-8")
        doc = tomllib.loads(text)
    except UnicodeDecodeError as exc:
        raise PlanError(str(path), [f"not UTF-8 text ({exc.reason}); save the file as UTF-8"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise PlanError(str(path), [f"not valid TOML: {exc}"]) from None
    return plan_from_mapping(doc, where=str(path), path=path, text=text)
