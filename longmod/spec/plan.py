"""Analysis plans: a trial's estimands and analyses, declared in TOML.

A plan file (e.g. ``models/stroma_cov2/plan.toml``) has a ``[plan]`` table,
``[estimands.<name>]`` tables (see :class:`~longmod.spec.estimand.Estimand`)
and an ``[[analyses]]`` array. Each analysis has a ``name``, a ``kind`` (one
of :data:`ANALYSIS_KINDS`), the ``estimand`` it targets and kind-specific
options.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from longmod.spec.estimand import Estimand
from longmod.spec.model import SpecError, Treatment

#: Analysis kinds a plan may declare, with the options each accepts.
ANALYSIS_KINDS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "ancova": ("covariates", "published", "label"),
        "rank_sum": ("published", "label"),
        "signed_rank": ("label",),
        "model": ("spec", "outcomes", "days", "engines", "label"),
        "bayes_ancova": ("covariates", "spec", "label"),
        "bayes_model": ("spec", "outcomes", "days", "label"),
        "prior_grid": ("published", "mcid", "label"),
    }
)


@dataclass(frozen=True)
class Analysis:
    """One declared analysis of a plan."""

    name: str
    kind: str
    estimand: str | None
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))


@dataclass(frozen=True)
class AnalysisPlan:
    """A trial's declared analysis plan.

    Attributes
    ----------
    trial : str
        Trial name (``stroma-cov2``).
    fixture : str
        Folder under ``fixtures/`` holding the bundled (synthetic) data.
    published : str or None
        Key of the published-results registry.
    treatment : Treatment
    estimands : mapping of str to Estimand
    analyses : tuple of Analysis
    path : pathlib.Path
        File the plan was read from (model specs are resolved next to it).
    """

    trial: str
    fixture: str
    published: str | None
    treatment: Treatment
    estimands: Mapping[str, Estimand]
    analyses: tuple[Analysis, ...]
    path: Path
    mcid: float | None = None

    def analysis_names(self) -> list[str]:
        """Names of the declared analyses, in order."""
        return [a.name for a in self.analyses]


def load_plan(path: str | Path) -> AnalysisPlan:
    """Read and check an analysis plan.

    Every analysis must name a known kind and, where needed, a declared
    estimand; unknown keys are errors that list the valid ones.

    Examples
    --------
    >>> from longmod.resources import models_dir
    >>> plan = load_plan(models_dir() / "stroma_cov2" / "plan.toml")
    >>> plan.analyses[0].name, plan.estimands["primary"].discharge.factor
    ('primary_ancova', 1.1)
    """
    path = Path(path)
    with path.open("rb") as fh:
        doc = tomllib.load(fh)
    where = str(path)
    head = dict(doc.get("plan", {}))
    for key in ("trial", "fixture"):
        if key not in head:
            raise SpecError(f"{where}: [plan] needs '{key}'")
    estimands = {name: Estimand.from_mapping(name, e, where=where) for name, e in doc.get("estimands", {}).items()}
    analyses = []
    for i, a in enumerate(doc.get("analyses", [])):
        a = dict(a)
        name, kind = a.pop("name", f"analysis {i + 1}"), a.pop("kind", None)
        if kind not in ANALYSIS_KINDS:
            raise SpecError(f"{where}: analysis {name!r}: kind {kind!r} is not supported; choose one of {', '.join(ANALYSIS_KINDS)}")
        est = a.pop("estimand", None)
        if est is not None and est not in estimands:
            raise SpecError(f"{where}: analysis {name!r} targets estimand {est!r}, which is not declared; declared: {', '.join(estimands)}")
        unknown = sorted(set(a) - set(ANALYSIS_KINDS[kind]))
        if unknown:
            raise SpecError(f"{where}: analysis {name!r} ({kind}) has unknown option(s) {', '.join(unknown)}; valid: {', '.join(ANALYSIS_KINDS[kind])}")
        analyses.append(Analysis(name, kind, est, a))
    names = [a.name for a in analyses]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise SpecError(f"{where}: analysis names must be unique; repeated: {', '.join(dup)}")
    return AnalysisPlan(
        trial=head["trial"], fixture=head["fixture"], published=head.get("published"),
        treatment=Treatment(**head.get("treatment", {})), estimands=MappingProxyType(estimands),
        analyses=tuple(analyses), path=path, mcid=head.get("mcid"),
    )
