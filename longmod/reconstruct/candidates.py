"""Candidate tests for printed P values whose test the paper does not name.

Each ``[[candidates]]`` entry of a targets file lists a printed P value and the
tests that could have produced it; :func:`candidate_table` evaluates every test
on the fixture with the target statistics of :mod:`longmod.reconstruct.stats`
and says which ones round to the printed value. A test that is itself a
calibration target of the fixture (``target = "<id>"``) matches *by
construction* and is labelled so: it is never evidence of which test the
authors used.
"""

from __future__ import annotations

import math

import pandas as pd

from longmod.reconstruct.evaluate import set_frames, target_value, treatment_of
from longmod.reconstruct.tables import as_tables
from longmod.reconstruct.targets import Target

#: Columns of :func:`candidate_table`.
CANDIDATE_COLUMNS = ("candidate", "published", "test", "p_value", "rounds_to_published", "calibration_target", "source")


def rounds_to(p: float, printed: float) -> bool:
    """Whether ``p`` prints as ``printed`` at the printed number of significant digits.

    Examples
    --------
    >>> rounds_to(0.03251, 0.033), rounds_to(0.0087, 0.0085), rounds_to(0.00847, 0.0085)
    (True, False, True)
    """
    if not math.isfinite(p):
        return False
    digits = len(f"{printed:.10g}".split("e")[0].replace(".", "").replace("-", "").lstrip("0"))
    mag = math.floor(math.log10(abs(printed)))
    step = 10.0 ** (mag - digits + 1)
    return abs(p - printed) <= step / 2 + 1e-12


def candidate_table(spec, data) -> pd.DataFrame:
    """Every candidate test's P value on ``data`` beside the printed one.

    Parameters
    ----------
    spec : TargetSpec
    data : Tables or TrialData

    Returns
    -------
    pandas.DataFrame
        :data:`CANDIDATE_COLUMNS`.

    Examples
    --------
    >>> import pandas as pd
    >>> from longmod.reconstruct import Tables, parse_targets
    >>> spec = parse_targets({"reconstruction": {"name": "toy"}, "analysis_sets": {"pts": {}},
    ...     "generator": {"arms": {"a": 10, "b": 10}},
    ...     "targets": [{"id": "n", "kind": "count", "set": "pts", "arm": "a", "variable": "arm", "value": 10,
    ...                  "tolerance": 0}],
    ...     "candidates": [{"id": "improved", "published": 0.033, "tests": [
    ...         {"label": "Fisher exact", "kind": "fisher_p", "set": "pts", "variable": "arm", "where": "y == 1"}]}]})
    >>> pts = pd.DataFrame({"patient_id": [str(i) for i in range(20)], "arm": ["a"] * 10 + ["b"] * 10,
    ...                     "y": [1] * 5 + [0] * 15})
    >>> doc = {"trial": {"arms": ["a", "b"], "reference_arm": "b"}}
    >>> tab = candidate_table(spec, Tables(pts, pd.DataFrame(), doc))
    >>> tab["test"].tolist(), round(float(tab["p_value"].iloc[0]), 4), bool(tab["rounds_to_published"].iloc[0])
    (['Fisher exact'], 0.0325, True)
    """
    tables = as_tables(data)
    frames = set_frames(spec, tables)
    tr = treatment_of(tables)
    ids = {t.id: t for t in spec.targets}
    rows = []
    for c in spec.candidates:
        for test in c["tests"]:
            t = Target(id=f"{c['id']}:{test['label']}", kind=test["kind"], set=test["set"], arm="all",
                       variable=test["variable"], value=float(c["published"]), tolerance=0.0,
                       where=test.get("where", ""), options=test.get("options", {}))
            f = frames[t.set]
            wm = f.eval(t.where).to_numpy(bool) if t.where else None
            cols = {k: f[k].to_numpy() for k in f.columns}
            p = float(target_value(t, cols, treatment=tr, set_def=spec.analysis_sets[t.set], where_mask=wm))
            tid = str(test.get("target", ""))
            if tid and tid not in ids:
                raise KeyError(f"candidate {c['id']}: test {test['label']!r} names unknown target {tid!r}")
            rows.append((c["id"], float(c["published"]), test["label"], p, rounds_to(p, float(c["published"])),
                         tid, str(c.get("source", ""))))
    return pd.DataFrame(rows, columns=list(CANDIDATE_COLUMNS))


def render_candidates(spec, table: pd.DataFrame) -> list[str]:
    """Markdown section of CALIBRATION.md for :func:`candidate_table`.

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> tab = pd.DataFrame([("x", 0.033, "Fisher", 0.0325, True, "", "k")], columns=list(CANDIDATE_COLUMNS))
    >>> "| Fisher | 0.0325 | yes |" in "\\n".join(render_candidates(NS(candidates=[{"id": "x", "note": "n"}]), tab))
    True
    """
    if table.empty:
        return []
    notes = {c["id"]: c for c in spec.candidates}
    lines = ["", "## Printed P values: which test gives them", "",
             "Each printed P value whose test the paper does not name, with every candidate test computed on",
             "these data. *Calibration target* = the data were built so that this test gives the printed value:",
             "it matches **by construction** and says nothing about which test the authors used. The other rows",
             "are independent of the calibration only where their note says so.", ""]
    for cid, g in table.groupby("candidate", sort=False):
        c = notes[cid]
        lines += [f"### `{cid}`: printed P = {g['published'].iloc[0]:g}" + (f" (`{c['source']}`)" if c.get("source") else ""), ""]
        lines += ["| test | P on these data | prints as published? | calibration target |", "|---|---|---|---|"]
        for r in g.itertuples():
            tgt = f"yes (`{r.calibration_target}`): matches by construction" if r.calibration_target else "no"
            lines.append(f"| {r.test} | {r.p_value:.4g} | {'yes' if r.rounds_to_published else 'no'} | {tgt} |")
        if c.get("note"):
            lines += ["", str(c["note"])]
        lines.append("")
    return lines
