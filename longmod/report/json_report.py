"""JSON report of a reanalysis, with the same content as the HTML and Markdown reports.

Everything is plain JSON: numbers are raw (not rounded), missing values are
``null``, figures are listed by their relative paths (``figures/<name>.png``
and ``.svg``) with their alt text and caption.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd


def _plain(v: Any) -> Any:
    """A JSON-serialisable value: numpy scalars as Python ones, NaN/NA as None."""
    if isinstance(v, np.generic):
        v = v.item()
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, (list, tuple, np.ndarray)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (str, int, float, bool)):
        return v
    return str(v)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    if frame is None or len(frame) == 0:
        return []
    return [{str(k): _plain(v) for k, v in rec.items()} for rec in frame.to_dict("records")]


def _calibration(res) -> dict[str, Any] | None:
    from longmod.report.tables import calibration_path, calibration_tables

    path = calibration_path(res) if res.trial.meta.synthetic else None
    if path is None:
        return None
    return {"file": path.name, "tables": calibration_tables(path.read_text(encoding="utf-8"))}


def _biomarker_json(res):
    from longmod.report.biomarkers import biomarker_json  # None without a biomarker section

    return biomarker_json(res)


def report_dict(res) -> dict[str, Any]:
    """The reanalysis as a JSON-serialisable dict (the content of the HTML report).

    Parameters
    ----------
    res : longmod.pipeline.Reanalysis

    Returns
    -------
    dict
        ``trial``, ``title``, ``data_label``, ``synthetic`` (bool) and
        ``data_note`` (the SYNTHETIC / user-data statement);
        ``provenance`` (source, file sha256 hashes, plan, versions);
        ``calibration`` (``file`` and the parsed ``tables`` of the fixture's
        CALIBRATION.md; ``null`` for user data); ``estimands`` (every estimand
        of the plan: label and description), ``estimands_used`` (those in the
        results) and ``analyses`` (analysis, label, engine, family, estimand);
        ``published_vs_reproduced``; ``forest`` (per outcome: its ``figure``
        and the plotted ``rows``, the published row first); ``figures`` (see
        :func:`longmod.report.html.figure_list`); ``prior_posterior`` (prior and
        posterior mean/SD, credible interval, P(benefit), P(effect > MCID) of
        every prior-grid row); ``diagnostics`` (per fitted analysis: convergence,
        R-hat, ESS, divergences, warnings, ``problems``, ``problem``) with
        ``diagnostics_thresholds``; ``effects`` (every row, common schema),
        ``descriptives``, ``imputations`` and ``timings`` (the rows of timings.csv).

    Examples
    --------
    >>> from longmod.pipeline import reanalyse
    >>> d = report_dict(reanalyse("stroma-cov2", only=["primary_ancova"]))
    >>> d["data_label"], d["effects"][0]["engine"]
    ('synthetic', 'published')
    >>> d["figures"][0]["png"], d["forest"][0]["rows"][0]["is_published"]
    ('figures/forest.png', True)
    >>> [(x["analysis"], x["problem"]) for x in d["diagnostics"]]
    [('primary_ancova', False)]
    """
    from longmod.report import plots
    from longmod.report.html import figure_list
    from longmod.report.run_diagnostics import run_diagnostics
    from longmod.report.tables import (ESS_MIN, RHAT_MAX, analysis_table, estimand_table, prior_grid_table,
                                       published_vs_reproduced)

    meta = res.trial.meta
    figs = figure_list(res)
    forest = [{"outcome": f["outcome"], "figure": f["name"],
               "rows": _records(plots.forest_data(res.effects, outcome=f["outcome"]))}
              for f in figs if f["kind"] == "forest"]
    if meta.synthetic:
        note = ("SYNTHETIC DATA: pseudo-patient data reconstructed by longmod from published summaries; not the "
                "trial's patient data. Published numbers are shown for comparison; reproduced numbers are computed "
                "on the synthetic data.")
    else:
        note = f"User data from {res.provenance['data'].get('source')}; see provenance.data.sha256 for file hashes."
    return {
        "trial": meta.name,
        "title": meta.title,
        "data_label": res.data_label,
        "synthetic": bool(meta.synthetic),
        "data_note": note,
        "provenance": _plain(res.provenance),
        "calibration": _calibration(res),
        "estimands": {k: {"label": e.label, "description": e.describe()} for k, e in res.plan.estimands.items()},
        "estimands_used": _records(estimand_table(res)),
        "analyses": _records(analysis_table(res.effects)),
        "published_vs_reproduced": _records(published_vs_reproduced(res.effects)),
        "forest": forest,
        "figures": figs,
        "prior_posterior": _records(prior_grid_table(res.effects)),
        "diagnostics": _records(run_diagnostics(res)),
        "diagnostics_thresholds": {"r_hat_max": RHAT_MAX, "ess_min": ESS_MIN},
        "effects": _records(res.effects),
        "descriptives": _records(res.descriptives),
        "imputations": _records(res.imputations),
        "timings": _records(res.timings) if isinstance(res.timings, pd.DataFrame) else _plain(res.timings),
        "biomarkers": _biomarker_json(res),
    }
