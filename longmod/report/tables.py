"""Tidy tables the HTML report shows: diagnostics, published vs reproduced, biomarkers.

Every function reads an effects table in the common schema (see
:mod:`longmod.results.schema`) and tolerates missing optional columns
(``converged``, ``warnings``, ``r_hat``, ...). Inputs are never modified.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from longmod.report.plots import engine_family

#: Thresholds above/below which a diagnostic is flagged.
RHAT_MAX: float = 1.01
ESS_MIN: float = 400.0

_BIOMARKER_RE = re.compile(
    r"^(il[-_]?\d+|crp|ferritin|d[-_]?dimer|ang[-_]?2|angiopoietin|srage|sp[-_]?d|pct|procalcitonin|tnf|ifn|"
    r"ldh|troponin|cd\d+|spd|icam|vcam|vegf|kl[-_]?6|mpo|pai[-_]?1|bnp|nt[-_]?probnp|lymphocytes?|neutrophils?)",
    re.IGNORECASE,
)


def _col(frame: pd.DataFrame, name: str, default=np.nan) -> pd.Series:
    return frame[name] if name in frame else pd.Series(default, index=frame.index, dtype=object)


def _text(x) -> str:
    """A cell as text; empty containers and missing values (also as strings, e.g. "[]") are ""."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    if isinstance(x, (list, tuple, np.ndarray)):
        return "; ".join(str(v) for v in x if str(v))
    t = str(x).strip()
    return "" if t.lower() in {"", "[]", "()", "nan", "none", "null"} else t


def _is_false(x) -> bool:
    if isinstance(x, str):
        return x.strip().lower() in {"false", "0", "no"}
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return False
    return not bool(x)


def diagnostics_table(effects: pd.DataFrame) -> pd.DataFrame:
    """Convergence diagnostics per fitted analysis (published rows excluded).

    Rows of one analysis and engine (e.g. one contrast per day) are pooled:
    the worst R-hat, the smallest bulk ESS, the most divergences, all warnings.

    Parameters
    ----------
    effects : pandas.DataFrame
        Common-schema effects. Optional columns used when present:
        ``converged``, ``warnings``, ``r_hat``, ``ess_bulk``, ``divergences``,
        ``prior``.

    Returns
    -------
    pandas.DataFrame
        ``analysis``, ``engine``, ``family``, ``prior``, ``converged`` (True,
        False or None when not reported), ``r_hat``, ``ess_bulk``,
        ``ess_tail``, ``divergences``, ``n_dropped`` (rows left out for a
        missing value, the most of any row), ``warnings``, ``notes`` (the rows'
        ``note``: how the result was computed, e.g. a derived event dated at
        the later visit; never a problem), ``problems`` (text,
        empty when none), ``problem`` (bool). A problem is an analysis that
        did not run (``status`` "not run: ..." or "failed: ..."),
        ``converged`` False, R-hat > :data:`RHAT_MAX`, bulk or tail ESS <
        :data:`ESS_MIN`, divergences > 0, rows dropped for missing values, any
        warning, or any flag the engine raised itself (``diagnostic_flags``).

    Examples
    --------
    >>> from longmod.results.schema import effects_frame
    >>> eff = effects_frame([{"analysis": "b", "engine": "bayes-pymc", "estimate": 1.0, "r_hat": 1.05,
    ...                       "ess_bulk": 900.0, "divergences": 0.0}])
    >>> diagnostics_table(eff)[["analysis", "problem", "problems"]].values.tolist()
    [['b', True, 'R-hat 1.050 > 1.01']]

    A method statement in ``note`` is shown, not counted:

    >>> eff = effects_frame([{"analysis": "s", "engine": "numpy", "estimate": 1.0, "note": "per-patient slope"}])
    >>> diagnostics_table(eff)[["notes", "problem"]].values.tolist()
    [['per-patient slope', False]]
    """
    cols = ["analysis", "engine", "family", "prior", "converged", "r_hat", "ess_bulk", "ess_tail", "divergences",
            "n_dropped", "warnings", "notes", "problems", "problem"]
    if effects is None or len(effects) == 0:
        return pd.DataFrame(columns=cols)
    e = effects[effects["engine"] != "published"]
    out = []
    keys = ["analysis", "engine"] + (["prior"] if "prior" in e else [])
    for key, g in e.groupby(keys, sort=False, dropna=False):
        analysis, engine = key[0], key[1]
        prior = _text(key[2]) if len(key) > 2 else ""
        conv_vals = [v for v in _col(g, "converged") if not (v is None or (isinstance(v, float) and math.isnan(v)))]
        converged = None if not conv_vals else not any(_is_false(v) for v in conv_vals)
        r_hat = pd.to_numeric(_col(g, "r_hat"), errors="coerce").max()
        ess = pd.to_numeric(_col(g, "ess_bulk"), errors="coerce").min()
        ess_tail = pd.to_numeric(_col(g, "ess_tail"), errors="coerce").min()
        div = pd.to_numeric(_col(g, "divergences"), errors="coerce").max()
        # rows of one fit repeat its warnings and notes, and a cell may hold several ("w; v"): list each once
        warns, notes = ([list(dict.fromkeys(w for x in _col(g, c) for w in _text(x).split("; ") if w))
                         for c in ("warnings", "note")])
        dropped = pd.to_numeric(_col(g, "n_dropped"), errors="coerce").max()
        status = [s for s in dict.fromkeys(_text(x) for x in _col(g, "status")) if s and s != "ok"]
        problems = list(status)
        if converged is False and not status:
            problems.append("did not converge")
        if pd.notna(r_hat) and r_hat > RHAT_MAX:
            problems.append(f"R-hat {r_hat:.3f} > {RHAT_MAX}")
        if pd.notna(ess) and ess < ESS_MIN:
            problems.append(f"bulk ESS {ess:.0f} < {ESS_MIN:.0f}")
        if pd.notna(ess_tail) and ess_tail < ESS_MIN:
            problems.append(f"tail ESS {ess_tail:.0f} < {ESS_MIN:.0f}")
        if pd.notna(div) and div > 0:
            problems.append(f"{div:.0f} divergent transitions")
        if pd.notna(dropped) and dropped > 0:
            problems.append(f"{dropped:.0f} row(s) dropped for missing values")
        warns = [w for w in warns if w not in status]
        if warns:
            problems.append(f"{len(warns)} warning(s)")
        # flags the engine raised itself that the checks above do not already cover
        known = ("r_hat", "ess_bulk", "ess_tail", "divergent")
        flags = dict.fromkeys(f.strip() for x in _col(g, "diagnostic_flags") for f in _text(x).split(";"))
        problems += [f for f in flags if f and not f.lower().startswith(known) and "divergent" not in f.lower()]
        out.append({"analysis": analysis, "engine": engine, "family": engine_family(engine, g.iloc[0]),
                    "prior": prior, "converged": converged, "r_hat": r_hat, "ess_bulk": ess, "ess_tail": ess_tail,
                    "divergences": div, "n_dropped": dropped,
                    "warnings": "; ".join(warns), "notes": "; ".join(notes), "problems": "; ".join(problems),
                    "problem": bool(problems)})
    return pd.DataFrame(out, columns=cols)


def published_vs_reproduced(effects: pd.DataFrame, calibration: dict | None = None) -> pd.DataFrame:
    """Each published result beside the analyses that reproduce it, with the agreement of each number.

    See :func:`longmod.report.published.published_comparison`: the rows of the
    same ``analysis`` and contrast reproduce the published estimate (same day
    when there is one), every between-arm test row of the analysis its P value;
    ``agreement`` says per number whether it matches by construction (a
    calibration target of synthetic data, from ``calibration``), reproduces the
    published number independently, or differs.

    Returns
    -------
    pandas.DataFrame
        ``analysis``, ``estimand``, ``day``, ``contrast``, ``source``
        (``"published"`` or the engine), ``test``, ``data_label``,
        ``estimate``, ``conf_low``, ``conf_high``, ``p_value``, ``q1``, ``q3``,
        ``agreement``, ``by_construction``, ``source_quote``; the published row
        first within each result.

    Examples
    --------
    >>> from longmod.results.schema import effects_frame
    >>> eff = effects_frame([
    ...     {"analysis": "p", "day": 7, "contrast": "a - b", "estimate": 7.4, "engine": "published"},
    ...     {"analysis": "p", "day": 7, "contrast": "a - b", "estimate": 6.9, "engine": "ancova-ols"},
    ...     {"analysis": "q", "day": 7, "contrast": "a - b", "estimate": 1.0, "engine": "ancova-ols"}])
    >>> published_vs_reproduced(eff)[["source", "estimate", "agreement"]].values.tolist()
    [['published', 7.4, ''], ['ancova-ols', 6.9, 'estimate: differs']]
    """
    from longmod.report.published import published_comparison

    cols = ["analysis", "estimand", "day", "contrast", "source", "test", "data_label", "estimate", "conf_low",
            "conf_high", "p_value", "q1", "q3", "agreement", "by_construction", "source_quote"]
    t = published_comparison(effects, calibration)
    if t.empty:
        return pd.DataFrame(columns=cols)
    est = effects.drop_duplicates("analysis").set_index("analysis")["estimand"] if "estimand" in effects else {}
    t["estimand"] = t["analysis"].map(est)
    return t[cols]


def biomarker_variables(trial) -> set[str]:
    """Measured variables that are biomarkers.

    A variable is a biomarker when its metadata says so (a ``kind``,
    ``category`` or ``group`` attribute equal to ``"biomarker"``), when any
    of its values has a lower limit of quantification (``lloq``), or when its
    name looks like a common ICU biomarker (IL-6, CRP, ferritin, ...).

    Examples
    --------
    >>> class T:
    ...     class meta:
    ...         variables = {}
    ...     measurements = pd.DataFrame({"variable": ["pf_ratio", "il6", "x"], "lloq": [None, None, 2.0]})
    >>> sorted(biomarker_variables(T()))
    ['il6', 'x']
    """
    m = trial.measurements
    out = set()
    if "lloq" in m:
        out |= set(m.loc[m["lloq"].notna(), "variable"].astype(str))
    for name, info in dict(trial.meta.variables).items():
        if any(str(getattr(info, k, "")).lower() == "biomarker" for k in ("kind", "category", "group")):
            out.add(name)
    out |= {v for v in m["variable"].astype(str).unique() if _BIOMARKER_RE.match(v)}
    return out


def biomarker_rows(effects: pd.DataFrame, trial=None) -> pd.DataFrame:
    """Effects rows whose ``outcome`` is a biomarker (see :func:`biomarker_variables`).

    Examples
    --------
    >>> from longmod.results.schema import effects_frame
    >>> eff = effects_frame([{"analysis": "a", "outcome": "il6_log", "engine": "x"},
    ...                      {"analysis": "b", "outcome": "pf_ratio", "engine": "x"}])
    >>> biomarker_rows(eff)["analysis"].tolist()
    ['a']
    """
    if effects is None or len(effects) == 0:
        return effects.copy() if effects is not None else pd.DataFrame()
    known = biomarker_variables(trial) if trial is not None else set()

    def is_bm(outcome) -> bool:
        o = str(outcome)
        return any(o == k or o.startswith(k + "_") for k in known) or bool(_BIOMARKER_RE.match(o))

    return effects[effects["outcome"].map(is_bm)].copy()


def estimand_table(res) -> pd.DataFrame:
    """What each analysis estimates, and why its estimate can differ from the published one.

    One row per estimand of the plan that the results use, then one per
    analysis that targets no estimand (time-to-event, meta-analysis, ...:
    the analysis defines what is estimated).

    Parameters
    ----------
    res : longmod.pipeline.Reanalysis

    Returns
    -------
    pandas.DataFrame
        ``estimand`` (name, or the analysis name), ``label``, ``strategies``
        (the plan's description, or the analysis kind), ``why`` (one sentence:
        the plan's ``note`` when given, else :func:`why_different`), in order
        of first use in the effects table.

    Examples
    --------
    >>> from longmod.pipeline import reanalyse
    >>> t = estimand_table(reanalyse("stroma-cov2", only=["primary_ancova"]))
    >>> t["estimand"].tolist(), "calibration target" in t["why"].iloc[0]
    (['primary'], True)
    """
    eff = res.effects
    plan = getattr(res, "plan", None)
    used = list(dict.fromkeys(eff["estimand"].dropna().astype(str))) if len(eff) else []
    rows = []
    for name in used:
        e = plan.estimands.get(name) if plan is not None else None
        if e is not None:
            rows.append({"estimand": name, "label": e.label, "strategies": e.describe(),
                         "why": getattr(e, "note", "") or why_different(res, estimand=name)})
            continue
        labs = eff.loc[eff["estimand"] == name, "estimand_label"].dropna() if "estimand_label" in eff else []
        rows.append({"estimand": name, "label": str(labs.iloc[0]) if len(labs) else "", "strategies": "",
                     "why": why_different(res, estimand=name)})
    ran = set(eff.loc[eff["engine"] != "published", "analysis"]) if len(eff) else set()
    for a in (plan.analyses if plan is not None else ()):
        if a.estimand or a.name not in ran:
            continue
        rows.append({"estimand": a.name, "label": a.label, "strategies": f"defined by the analysis ({a.kind})",
                     "why": str(a.options.get("note", "")) or why_different(res, analysis=a.name)})
    return pd.DataFrame(rows, columns=["estimand", "label", "strategies", "why"])


def why_different(res, *, estimand: str | None = None, analysis: str | None = None) -> str:
    """One sentence on why the reproduced estimate of an estimand (or analysis) can differ from the published one.

    Built from the data label and the published-vs-reproduced table: whether
    a published counterpart exists and whether its numbers were calibration
    targets of the synthetic data.

    Examples
    --------
    >>> from longmod.pipeline import reanalyse
    >>> why_different(reanalyse("stroma-cov2", only=["rank_sum"]), estimand="primary")[:60]
    'No published counterpart: computed on synthetic pseudo-patie'
    """
    from longmod.report.published import calibration_targets

    eff = res.effects
    sel = eff["estimand"] == estimand if estimand is not None else eff["analysis"] == analysis
    names = set(eff.loc[sel & (eff["engine"] != "published"), "analysis"])
    t = published_vs_reproduced(eff[eff["analysis"].isin(names)], calibration_targets(res.trial))
    label = getattr(res, "data_label", "")
    data = {"synthetic": "computed on synthetic pseudo-patient data, which reproduce the published summaries they "
                         "were calibrated to and nothing else",
            "published summary": "pooled from published summaries, converted as the studies file says (assumptions "
                                 "stated and varied)"}.get(label, "computed on the data given")
    if t.empty:
        return f"No published counterpart: {data}."
    ours = t[t["source"] != "published"]
    if ours["by_construction"].astype(bool).any():
        return (f"The published number was a calibration target of the synthetic data, so its reproduction matches by "
                f"construction and is no evidence; the other analyses of it differ by their method, {data}.")
    return (f"Its published counterpart was not a calibration target: where the reproduction agrees it is an "
            f"independent check, where it differs the method (test, model, intercurrent-event rule) or the "
            f"reconstruction's unpublished choices decide; {data}.")


def analysis_table(effects: pd.DataFrame) -> pd.DataFrame:
    """One row per analysis and engine: its label and the estimand it targets.

    Returns
    -------
    pandas.DataFrame
        ``analysis``, ``label`` (the plan's label, else the analysis name),
        ``engine``, ``family`` (see :func:`~longmod.report.plots.engine_family`),
        ``estimand``.

    Examples
    --------
    >>> from longmod.results.schema import effects_frame
    >>> eff = effects_frame([{"analysis": "a", "estimand": "primary", "engine": "ancova-ols", "estimate": 1.0},
    ...                      {"analysis": "a", "estimand": "primary", "engine": "ancova-ols", "estimate": 2.0}])
    >>> analysis_table(eff).values.tolist()
    [['a', 'a', 'ancova-ols', 'ANCOVA', 'primary']]
    """
    cols = ["analysis", "label", "engine", "family", "estimand"]
    if effects is None or len(effects) == 0:
        return pd.DataFrame(columns=cols)
    rows = []
    for _, r in effects.drop_duplicates(["analysis", "engine"]).iterrows():
        lab = r.get("label")
        rows.append({"analysis": r["analysis"], "label": lab if isinstance(lab, str) and lab else r["analysis"],
                     "engine": r["engine"], "family": engine_family(r["engine"], r), "estimand": _text(r.get("estimand"))})
    return pd.DataFrame(rows, columns=cols)


def prior_grid_table(effects: pd.DataFrame) -> pd.DataFrame:
    """Prior and posterior summaries of every prior-grid row (what the prior vs posterior figures draw).

    Returns
    -------
    pandas.DataFrame
        ``analysis``, ``prior``, ``prior_family``, ``prior_mean``, ``prior_sd``,
        ``posterior_mean``, ``posterior_sd``, ``conf_low``, ``conf_high``
        (95% credible interval), ``prob_benefit``, ``prob_mcid``, ``mcid``
        (NaN when not reported).

    Examples
    --------
    >>> from longmod.engines.bayes.summary_grid import prior_grid_reanalysis
    >>> t = prior_grid_table(prior_grid_reanalysis(7.4, -44.7, 59.7, mcid=20.0).assign(analysis="grid"))
    >>> t.loc[0, "prior"], float(t.loc[0, "prior_sd"])
    ('minimally-informative', 10000.0)

    Beside rows of another analysis that has a ``posterior_mean`` column, every column stays unique:

    >>> import pandas as pd
    >>> other = pd.DataFrame({"analysis": ["joint"], "estimate": [1.0], "posterior_mean": [1.1]})
    >>> grid = prior_grid_reanalysis(7.4, -44.7, 59.7, mcid=20.0).assign(analysis="grid")
    >>> t = prior_grid_table(pd.concat([grid, other], ignore_index=True))
    >>> bool(t.columns.is_unique), float(t.loc[0, "posterior_mean"]) == float(grid.loc[0, "estimate"])
    (True, True)
    """
    from longmod.report.plots import prior_grid_rows

    cols = ["analysis", "prior", "prior_family", "prior_mean", "prior_sd", "posterior_mean", "posterior_sd",
            "conf_low", "conf_high", "prob_benefit", "prob_mcid", "mcid"]
    g = prior_grid_rows(effects)
    if g is None or g.empty:
        return pd.DataFrame(columns=cols)
    # other analyses' posterior_mean/_sd columns (e.g. the joint model's) are empty on these rows: replaced
    g = g.drop(columns=[c for c in ("posterior_mean", "posterior_sd") if c in g])
    g = g.rename(columns={"estimate": "posterior_mean", "std_error": "posterior_sd"})
    for c in cols:
        if c not in g:
            g[c] = np.nan
    return g[cols].reset_index(drop=True)


def calibration_path(res):
    """``CALIBRATION.md`` beside the reanalysed data, or None (user data, DataFrames, missing file).

    Examples
    --------
    >>> from longmod.pipeline import reanalyse
    >>> calibration_path(reanalyse("stroma-cov2", only=["primary_ancova"])).name
    'CALIBRATION.md'
    """
    from pathlib import Path

    prov = res.provenance if isinstance(res.provenance, dict) else {}
    src = prov.get("data", {}).get("source")
    if not src or src == "DataFrames":
        return None
    path = Path(src) / "CALIBRATION.md"
    return path if path.is_file() else None


def _cells(line: str) -> list[str]:
    t = line.strip()
    t = t[1:] if t.startswith("|") else t
    t = t[:-1] if t.endswith("|") else t
    return [c.strip().strip("`") for c in t.split("|")]


def calibration_tables(text: str) -> list[dict]:
    """The pipe tables of a calibration report (``CALIBRATION.md``), as records.

    Parameters
    ----------
    text : str
        The Markdown of the calibration report.

    Returns
    -------
    list of dict
        One dict per table: ``heading`` (the nearest heading above it),
        ``columns`` and ``rows`` (list of dicts, cell text with code marks removed).

    Examples
    --------
    >>> md = "## Targets (1/1 met)\\n\\n| id | published | result |\\n|---|---|---|\\n| n | 21 | pass |"
    >>> t = calibration_tables(md)
    >>> t[0]["heading"], t[0]["rows"]
    ('Targets (1/1 met)', [{'id': 'n', 'published': '21', 'result': 'pass'}])
    """
    out: list[dict] = []
    heading = ""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        s = lines[i].strip()
        if s.startswith("#"):
            heading = s.lstrip("#").strip()
        elif s.startswith("|") and i + 1 < len(lines) and re.match(r"^\|?\s*:?-{3,}", lines[i + 1].strip()):
            cols = _cells(s)
            rows = []
            i += 2
            while i < len(lines) and lines[i].strip().startswith("|"):
                cells = _cells(lines[i])
                rows.append(dict(zip(cols, cells + [""] * (len(cols) - len(cells)))))
                i += 1
            out.append({"heading": heading, "columns": cols, "rows": rows})
            continue
        i += 1
    return out
