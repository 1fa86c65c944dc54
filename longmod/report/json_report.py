"""JSON report of a reanalysis (same content as the Markdown report)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for rec in frame.to_dict("records"):
        out.append({k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in rec.items()})
    return out


def report_dict(res) -> dict[str, Any]:
    """The reanalysis as a JSON-serialisable dict.

    Keys: ``trial``, ``data_label``, ``synthetic``, ``estimands``, ``effects``,
    ``descriptives``, ``imputations``, ``provenance``, ``timings_seconds``.

    Examples
    --------
    >>> from longmod.reanalyse import reanalyse
    >>> d = report_dict(reanalyse("stroma-cov2", only=["primary_ancova"]))
    >>> d["data_label"], d["effects"][0]["engine"]
    ('synthetic', 'published')
    """
    meta = res.trial.meta
    return {
        "trial": meta.name,
        "title": meta.title,
        "data_label": res.data_label,
        "synthetic": bool(meta.synthetic),
        "estimands": {k: {"label": e.label, "description": e.describe()} for k, e in res.plan.estimands.items()},
        "effects": _records(res.effects),
        "descriptives": _records(res.descriptives),
        "imputations": _records(res.imputations),
        "provenance": res.provenance,
        "timings_seconds": res.timings,
    }
