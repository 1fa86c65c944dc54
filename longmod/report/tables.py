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
        ``divergences``, ``warnings``, ``problems`` (text, empty when none),
        ``problem`` (bool). A problem is ``converged`` False, R-hat >
        :data:`RHAT_MAX`, ESS < :data:`ESS_MIN`, divergences > 0 or any warning.

    Examples
    --------
    >>> from longmod.results.schema import effects_frame
    >>> eff = effects_frame([{"analysis": "b", "engine": "bayes-pymc", "estimate": 1.0, "r_hat": 1.05,
    ...                       "ess_bulk": 900.0, "divergences": 0.0}])
    >>> diagnostics_table(eff)[["analysis", "problem", "problems"]].values.tolist()
    [['b', True, 'R-hat 1.050 > 1.01']]
    """
    cols = ["analysis", "engine", "family", "prior", "converged", "r_hat", "ess_bulk", "divergences",
            "warnings", "problems", "problem"]
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
        div = pd.to_numeric(_col(g, "divergences"), errors="coerce").max()
        warns = list(dict.fromkeys(w for w in (_text(x) for x in _col(g, "warnings")) if w))
        problems = []
        if converged is False:
            problems.append("did not converge")
        if pd.notna(r_hat) and r_hat > RHAT_MAX:
            problems.append(f"R-hat {r_hat:.3f} > {RHAT_MAX}")
        if pd.notna(ess) and ess < ESS_MIN:
            problems.append(f"bulk ESS {ess:.0f} < {ESS_MIN:.0f}")
        if pd.notna(div) and div > 0:
            problems.append(f"{div:.0f} divergent transitions")
        if warns:
            problems.append(f"{len(warns)} warning(s)")
        out.append({"analysis": analysis, "engine": engine, "family": engine_family(engine, g.iloc[0]),
                    "prior": prior, "converged": converged, "r_hat": r_hat, "ess_bulk": ess, "divergences": div,
                    "warnings": "; ".join(warns), "problems": "; ".join(problems), "problem": bool(problems)})
    return pd.DataFrame(out, columns=cols)


def published_vs_reproduced(effects: pd.DataFrame) -> pd.DataFrame:
    """Each published result beside the analyses that reproduce it.

    A reproduction is a non-published row of the same ``analysis`` (same day
    and contrast when present).

    Returns
    -------
    pandas.DataFrame
        ``analysis``, ``estimand``, ``day``, ``contrast``, ``source``
        (``"published"`` or the engine), ``data_label``, ``estimate``,
        ``conf_low``, ``conf_high``, ``p_value``, ``source_quote``; the
        published row first within each analysis.

    Examples
    --------
    >>> from longmod.results.schema import effects_frame
    >>> eff = effects_frame([
    ...     {"analysis": "p", "day": 7, "contrast": "a - b", "estimate": 7.4, "engine": "published"},
    ...     {"analysis": "p", "day": 7, "contrast": "a - b", "estimate": 6.9, "engine": "ancova-ols"},
    ...     {"analysis": "q", "day": 7, "contrast": "a - b", "estimate": 1.0, "engine": "ancova-ols"}])
    >>> published_vs_reproduced(eff)[["source", "estimate"]].values.tolist()
    [['published', 7.4], ['ancova-ols', 6.9]]
    """
    cols = ["analysis", "estimand", "day", "contrast", "source", "data_label", "estimate", "conf_low",
            "conf_high", "p_value", "source_quote"]
    if effects is None or len(effects) == 0:
        return pd.DataFrame(columns=cols)
    pub = effects[effects["engine"] == "published"]
    parts = []
    for _, p in pub.iterrows():
        same = effects[(effects["analysis"] == p["analysis"]) & (effects["engine"] != "published")]
        for c in ("day", "contrast"):
            if pd.notna(p.get(c)) and c in same:
                same = same[same[c] == p[c]]
        parts.append(p.to_frame().T)
        if len(same):
            parts.append(same)
    if not parts:
        return pd.DataFrame(columns=cols)
    out = pd.concat([q.dropna(axis=1, how="all") for q in parts], ignore_index=True)
    out["source"] = out["engine"]
    for c in cols:
        if c not in out:
            out[c] = np.nan
    return out[cols]


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
    ...     measurements = pd.DataFrame({"variable": ["pao2_fio2", "il6", "x"], "lloq": [None, None, 2.0]})
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
    ...                      {"analysis": "b", "outcome": "pao2_fio2", "engine": "x"}])
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
