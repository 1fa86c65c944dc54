"""CALIBRATION.md: every target (published, achieved, tolerance, pass/fail) and every assumption."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from longmod.reconstruct.tables import as_tables
from longmod.reconstruct.targets import TargetSpec


def _num(v: float) -> str:
    if pd.isna(v):
        return "NA"
    if float(v).is_integer() and abs(v) < 1e6:
        return f"{int(v)}"
    return f"{v:.4g}" if abs(v) < 1 else f"{v:.2f}"


def _value(v: Any) -> str:
    if isinstance(v, Mapping):
        return "{" + ", ".join(f"{k} = {_value(x)}" for k, x in v.items() if k != "note") + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return str(v)


def _assumption_rows(table: Mapping[str, Any], prefix: str) -> list[tuple[str, str, str]]:
    """(name, value, note) for every table carrying a ``note``; nested tables recurse."""
    rows = []
    scalars = {k: v for k, v in table.items() if not isinstance(v, Mapping) and k != "note"}
    if "note" in table:
        rows.append((prefix, _value(scalars) if scalars else "", str(table["note"])))
    elif scalars:
        rows.append((prefix, _value(scalars), ""))
    for k, v in table.items():
        if isinstance(v, Mapping):
            rows += _assumption_rows(v, f"{prefix}.{k}")
    return rows


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c).replace("|", "/") for c in r) + " |" for r in rows]
    return out


def _written_data(spec: TargetSpec, trial) -> list[str]:
    tables = as_tables(trial)
    pts, meas = tables.patients, tables.measurements
    lines = ["", "## Written data", ""]
    lines += [f"- Patients: {len(pts)} (" + ", ".join(f"{a}: {int((pts['arm'] == a).sum())}" for a in tables.arms) + ")"]
    lines.append("- Columns of `patients.csv`: " + ", ".join(f"`{c}`" for c in pts.columns))
    if spec.data_note:
        lines.append(f"- {spec.data_note}")
    censored = meas.groupby("variable")["lloq"].apply(lambda s: s.notna().any())
    for v, g in meas[meas["variable"].isin(censored.index[~censored])].groupby("variable", sort=True):
        lines.append(f"- `{v}`: {len(g)} values on days {', '.join(map(str, sorted(g['day'].unique())))}")
    bm = meas[meas["variable"].isin(censored.index[censored])]
    if len(bm):
        effect = set(spec.biomarkers.get("effect_markers", ())) if spec.biomarkers else set()
        active = str(spec.biomarkers.get("active_arm", "")) if spec.biomarkers else ""
        lines += ["", f"### Biomarkers ({bm['variable'].nunique()} markers, days "
                  f"{', '.join(map(str, sorted(bm['day'].unique())))})", "",
                  "Censoring convention: every biomarker row carries the marker's `lloq`; `value` empty = below the "
                  "LLOQ (left-censored; the paper imputed LLOQ/2 or modelled it); no row = sample not taken. "
                  "Quantified values are >= `lloq`.", ""]
        rows = []
        for v, g in bm.groupby("variable", sort=True):
            rows.append([f"`{v}`", _num(float(g["lloq"].iloc[0])), str(g["patient_id"].nunique()), str(len(g)),
                         f"{100 * g['value'].isna().mean():.1f}%", f"late decrease in {active}" if v in effect else "none"])
        lines += _table(["marker", "LLOQ (pg/mL)", "patients", "samples", "censored", "simulated effect"], rows)
    return lines


def render_calibration(spec: TargetSpec, report: pd.DataFrame, *, seed: int, attempts: int,
                       trial=None, candidates: pd.DataFrame | None = None) -> str:
    """The text of CALIBRATION.md (deterministic: no dates, no timings).

    Parameters
    ----------
    spec : TargetSpec
    report : pandas.DataFrame
        From :func:`longmod.reconstruct.evaluate.evaluate_targets`.
    seed, attempts : int
    trial : Tables or TrialData, optional
        Adds a summary of the written data.
    candidates : pandas.DataFrame, optional
        :func:`longmod.reconstruct.candidates.candidate_table`.

    Returns
    -------
    str

    Examples
    --------
    >>> import pandas as pd
    >>> from longmod.reconstruct.targets import parse_targets
    >>> spec = parse_targets({"reconstruction": {"name": "toy", "outcome": "pf", "endpoint_day": 7},
    ...     "analysis_sets": {"s": {}}, "generator": {"arms": {"a": 1}},
    ...     "targets": [{"id": "n", "kind": "count", "set": "s", "arm": "a", "variable": "arm",
    ...                  "value": 1, "tolerance": 0}]})
    >>> rep = pd.DataFrame([{"id": "n", "kind": "count", "description": "count", "published": 1.0, "achieved": 1.0,
    ...     "tolerance": 0.0, "passed": True, "soft": False, "source": ""}])
    >>> "SYNTHETIC" in render_calibration(spec, rep, seed=1, attempts=1)
    True
    """
    hard = report[~report["soft"]]
    soft = report[report["soft"]]
    n_pass = int(hard["passed"].sum())
    lines = [
        f"# {spec.name}: calibration report (SYNTHETIC pseudo-patient data)",
        "",
        "> **SYNTHETIC DATA. These are not the trial's patient data.** They were reconstructed from",
        "> published summaries by `longmod.reconstruct` (a general, seeded routine driven by",
        "> `targets.toml`), never edited by hand. Use them to exercise and demonstrate the analysis",
        "> pipeline; any result computed on them describes the reconstruction, not the trial.",
        "",
        "## Build",
        "",
        f"- Seed: `{seed}` (draw attempts needed: {attempts})",
        f"- Rebuild: `python -m longmod.reconstruct {spec.fixture} --seed {seed}`; the same seed gives identical bytes.",
        f"- Targets file: `targets.toml`" + (f"; outcome `{spec.outcome}`, baseline day {spec.baseline_day}, "
        f"endpoint day {spec.endpoint_day}; values rounded to {spec.decimals} decimal(s) *before* the targets are evaluated."
        if spec.outcome else "; every value is rounded as written *before* the targets are evaluated."),
        "- Every achieved value below is recomputed from the written files with longmod's own rules "
        "(estimands by `apply_estimand`, ANCOVA by `fit_ancova`, rank and survival tests by "
        "`longmod.reconstruct.between`; quantiles as R type 7).",
        "",
        f"## Targets ({n_pass}/{len(hard)} met)",
        "",
        "Every target holds *by construction*: the data were built to meet it. A P value among them "
        "(marked below) therefore matches by construction and is no evidence of which test the authors used.",
        "",
    ]

    def result(r) -> str:
        if not r.passed:
            return "FAIL"
        return "pass: P value, matches by construction" if str(r.kind).endswith("_p") else "pass"

    rows = [[r.id, r.description, _num(r.published), _num(r.achieved), _num(r.tolerance), result(r),
             f"`{r.source}`" if r.source else ""] for r in hard.itertuples()]
    lines += _table(["id", "statistic", "published", "achieved", "tolerance", "result", "source (quote key)"], rows)
    notes = {t.id: t.note for t in spec.targets if t.note}
    shown = [i for i in hard["id"] if i in notes]
    if shown:
        lines += ["", "Notes on the targets:", ""] + [f"- `{i}`: {notes[i]}" for i in shown]
    if len(soft):
        lines += ["", "## Soft targets (reported, not required)", ""]
        rows = [[r.id, r.description, _num(r.published), _num(r.achieved), _num(r.tolerance),
                 "within" if r.passed else "outside", f"`{r.source}`" if r.source else ""] for r in soft.itertuples()]
        lines += _table(["id", "statistic", "published", "achieved", "tolerance", "", "source (quote key)"], rows)
    if candidates is not None:
        from longmod.reconstruct.candidates import render_candidates

        lines += render_candidates(spec, candidates)
    lines += [
        "",
        f"Source keys refer to the verbatim quotes in `{spec.facts or 'the published-facts file'}` (published facts);"
        " NOTES.md refers to the notes beside it (part b: assumptions for unreported quantities).",
        "",
        "## Unreported quantities and the assumptions used",
        "",
    ]
    rows = [[f"`{n}`", v, note] for n, v, note in _assumption_rows(spec.generator, "generator")]
    for key, tab in (("extension", spec.extension), ("biomarkers", spec.biomarkers)):
        if tab:
            rows += [[f"`{n}`", v, note] for n, v, note in _assumption_rows(tab, key)
                     if not n.endswith(".markers") and ".sources" not in n]
    lines += _table(["parameter", "value", "assumption / source"], rows)
    if trial is not None:
        lines += _written_data(spec, trial)
    return "\n".join(lines) + "\n"


def write_calibration(path: str | Path, spec: TargetSpec, report: pd.DataFrame, *, seed: int, attempts: int,
                      trial=None, extra: str = "", candidates: pd.DataFrame | None = None) -> Path:
    """Write CALIBRATION.md (see :func:`render_calibration`).

    Examples
    --------
    >>> from longmod.reconstruct.report import write_calibration  # doctest: +SKIP
    """
    text = render_calibration(spec, report, seed=seed, attempts=attempts, trial=trial, candidates=candidates) + extra
    path = Path(path)
    path.write_text(text, encoding="utf-8")
    return path
