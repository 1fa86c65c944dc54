"""Each published number beside its reproductions, and whether the agreement is evidence or construction.

A reproduction of a published result is a row of the same ``analysis``: for the
published estimate, the rows of the same ``contrast`` (the same day when there
is one, else any day: the day column shows both); for a published P value,
every between-arm row with a P value (each candidate test). Each reproduction
gets an ``agreement``:

* **matches by construction** - the number prints as published and the
  published number was a calibration target of the pseudo-patient data (its
  quote key is a hard target of the fixture's ``targets.toml``): the data were
  built to give it, so it is no evidence of anything (STROMA's ANCOVA estimate,
  CI and P; the P values marked in the fixtures' CALIBRATION.md);
* **reproduced (independent check)** - it prints as published and the
  published number was not a calibration target;
* **differs** - it does not print as published.

Printing as published means rounding to the published number at its printed
precision (:func:`prints_as`).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

#: Columns of :func:`published_comparison`.
COLUMNS = ("analysis", "result_id", "day", "contrast", "source", "test", "statistic", "data_label", "estimate",
           "conf_low", "conf_high", "p_value", "q1", "q3", "agreement", "by_construction", "source_quote")
BY_CONSTRUCTION = "matches by construction"


def prints_as(x: float, printed: float) -> bool:
    """Whether ``x`` rounds to ``printed`` at the printed precision (significant digits as printed).

    Examples
    --------
    >>> prints_as(0.03251, 0.033), prints_as(83.31, 83.3), prints_as(0.4, 0), prints_as(79.1667, 79.2)
    (True, True, True, True)
    >>> prints_as(0.0087, 0.0085), prints_as(100.0, 100)
    (False, True)
    """
    try:
        x, printed = float(x), float(printed)
    except (TypeError, ValueError):
        return False
    if not (math.isfinite(x) and math.isfinite(printed)):
        return False
    if printed == 0:
        return abs(x) < 0.5
    text = f"{printed:.10g}".split("e")[0]
    decimals = len(text.split(".")[1]) if "." in text else 0
    if decimals == 0:
        return abs(x - printed) <= 0.5 + 1e-12
    digits = len(text.replace(".", "").replace("-", "").lstrip("0"))
    step = 10.0 ** (math.floor(math.log10(abs(printed))) - digits + 1)
    return abs(x - printed) <= step / 2 + 1e-12


def calibration_targets(trial) -> dict[str, tuple[float, float]]:
    """Published numbers the trial's synthetic data were calibrated to: quote key -> (target value, tolerance).

    Read from ``targets.toml`` beside the data (hard targets with a quote key,
    :meth:`TargetSpec.calibrated_sources`); empty for user data.

    Examples
    --------
    >>> from longmod.data import load_trial
    >>> from longmod.resources import fixtures_dir
    >>> cal = calibration_targets(load_trial(fixtures_dir() / "martinez_munoz_2024"))
    >>> cal["efficacy.time_to_o2_discontinuation_p_value"], "efficacy.who_scale_improvement_d7_p_value" in cal
    ((0.007, 0.0005), False)
    >>> calibration_targets(load_trial(fixtures_dir() / "stroma_cov2"))["secondary_endpoints.survival_d28_logrank_p"]
    (0.63, 0.03)
    """
    if not getattr(trial.meta, "synthetic", False):
        return {}
    src = (trial.provenance or {}).get("source")
    path = Path(str(src)) / "targets.toml" if src else None
    if path is None or not path.is_file():
        return {}
    from longmod.reconstruct.targets import load_targets

    spec = load_targets(path)
    keys = spec.calibrated_sources()
    out: dict[str, tuple[float, float]] = {}
    for t in spec.targets:
        if t.source in keys and not t.soft:
            out.setdefault(t.source, (float(t.value), float(t.tolerance)))
    deaths = dict(spec.extension.get("deaths", {})) if spec.extension else {}
    if "source" in deaths and "logrank_p" in deaths:  # death days drawn until the log-rank P is within tolerance
        out.setdefault(str(deaths["source"]), (float(deaths["logrank_p"]), float(deaths.get("logrank_tolerance", 0.0))))
    for k in keys:
        out.setdefault(k, (math.nan, math.nan))
    return out


#: Published fields compared, in the order of the agreement text.
_FIELDS = (("estimate", ("estimate",)), ("CI", ("conf_low", "conf_high")), ("IQR", ("q1", "q3")), ("P", ("p_value",)))


def _calibrated_fields(p, cal: dict) -> dict[str, float | None]:
    """Published fields of row ``p`` that were calibration targets -> tolerance (None: compare as printed)."""
    out: dict[str, float | None] = {}
    for k in _keys(p):
        if k not in cal:
            continue
        value, tol = cal[k]
        hit = [f for _, fs in _FIELDS for f in fs if pd.notna(p.get(f)) and abs(float(p[f]) - value) < 1e-9]
        if hit:
            for f in hit:
                out[f] = tol
        else:  # the target is on another scale (a proportion for a printed %): compare as printed
            out["p_value" if _p_key(k) else "estimate"] = None
    return out


def _agrees(x, printed, tol) -> bool:
    if prints_as(x, printed):
        return True
    try:
        return tol is not None and math.isfinite(tol) and abs(float(x) - float(printed)) <= tol + 1e-12
    except (TypeError, ValueError):
        return False


def _keys(row) -> list[str]:
    k = row.get("fact_keys")
    return [x.strip() for x in str(k).split(";") if x.strip()] if isinstance(k, str) else []


def _p_key(k: str) -> bool:
    return k.endswith(("_p", "_p_value")) or "_p_value" in k or k.endswith("_logrank_p")


def _test_label(r) -> str:
    for c in ("test", "method", "statistic", "model"):
        v = r.get(c)
        if isinstance(v, str) and v:
            return v
    return str(r.get("engine", ""))


def _pick(rows: pd.DataFrame, day) -> pd.DataFrame:
    if pd.notna(day) and "day" in rows:
        same = rows[rows["day"] == day]
        if len(same):
            return same
    return rows


def published_comparison(effects: pd.DataFrame, calibration: dict | None = None) -> pd.DataFrame:
    """Each published row followed by its reproductions, each with its agreement.

    Parameters
    ----------
    effects : pandas.DataFrame
        Common-schema effects with published rows (``engine = "published"``,
        ``fact_keys``); not modified.
    calibration : dict, optional
        Calibration targets of the data (:func:`calibration_targets`): a
        reproduced number that agrees with a calibrated published number
        (as printed, or within the target's tolerance) matches by construction.

    Returns
    -------
    pandas.DataFrame
        :data:`COLUMNS`; ``source`` is ``"published"`` or the engine;
        ``agreement`` per compared number, e.g. ``"estimate: matches by
        construction; P: differs"``; ``by_construction`` True when any number
        of the row matches by construction.

    Examples
    --------
    >>> from longmod.results.schema import effects_frame
    >>> eff = effects_frame([
    ...     {"analysis": "s", "day": 28, "contrast": "a", "estimate": 100.0, "p_value": 0.025, "engine": "published",
    ...      "fact_keys": "o.surv_a; o.surv_p_value"},
    ...     {"analysis": "s", "day": 28, "contrast": "a", "estimate": 100.0, "engine": "km", "test": "kaplan-meier"},
    ...     {"analysis": "s", "day": 28, "contrast": "a - b", "p_value": 0.0253, "engine": "x", "test": "mcnemar"},
    ...     {"analysis": "s", "day": 28, "contrast": "a - b", "p_value": 0.30, "engine": "x", "test": "fisher"}])
    >>> t = published_comparison(eff, {"o.surv_a": (1.0, 0.0005)})
    >>> t[["source", "test", "agreement"]].values.tolist()  # doctest: +NORMALIZE_WHITESPACE
    [['published', '', ''], ['km', 'kaplan-meier', 'estimate: matches by construction'],
     ['x', 'mcnemar', 'P: reproduced (independent check)'], ['x', 'fisher', 'P: differs']]
    """
    cal = dict(calibration or {})
    if effects is None or len(effects) == 0 or not (effects["engine"] == "published").any():
        return pd.DataFrame(columns=list(COLUMNS))
    out = []
    ours = effects[effects["engine"] != "published"]
    if "status" in ours:
        ours = ours[ours["status"].fillna("ok") == "ok"]
    for _, p in effects[effects["engine"] == "published"].iterrows():
        calf = _calibrated_fields(p, cal)
        same = ours[ours["analysis"] == p["analysis"]]
        est_rows = _pick(same[(same["contrast"] == p["contrast"]) & same["estimate"].notna()], p.get("day")) \
            if pd.notna(p.get("estimate")) else same.iloc[0:0]
        p_rows = same.iloc[0:0]
        if pd.notna(p.get("p_value")):
            between = same[same["contrast"].astype(str).str.contains(" - ", regex=False) & same["p_value"].notna()]
            p_rows = _pick(between, p.get("day"))
        out.append({**{c: p.get(c) for c in COLUMNS if c in p}, "source": "published", "test": "",
                    "agreement": "", "by_construction": False})
        for idx in list(dict.fromkeys([*est_rows.index, *p_rows.index])):
            r = same.loc[idx]
            marks, cons = [], False
            for name, fields in _FIELDS:
                if name == "P" and idx not in p_rows.index or name != "P" and idx not in est_rows.index:
                    continue
                pairs = [(f, p.get(f), r.get(f)) for f in fields]
                if not all(pd.notna(a) and pd.notna(b) for _, a, b in pairs):
                    continue
                is_cal = all(f in calf for f in fields)
                if all(_agrees(b, a, calf.get(f) if is_cal else None) for f, a, b in pairs):
                    cons |= is_cal
                    marks.append(f"{name}: {BY_CONSTRUCTION if is_cal else 'reproduced (independent check)'}")
                else:
                    marks.append(f"{name}: differs")
            out.append({**{c: r.get(c) for c in COLUMNS if c in r}, "result_id": p.get("result_id"),
                        "source": r["engine"], "test": _test_label(r), "agreement": "; ".join(marks),
                        "by_construction": cons, "source_quote": ""})
    t = pd.DataFrame(out)
    for c in COLUMNS:
        if c not in t:
            t[c] = np.nan
    return t[list(COLUMNS)]


def agreement_summary(res, calibration: dict | None = None) -> str:
    """Plain-text summary of the published-vs-reproduced table (printed by ``longmod reanalyse``).

    ``calibration`` defaults to :func:`calibration_targets` of ``res.trial``.

    One line of counts, then every reproduction that matches by construction
    (a calibration target of the synthetic data: no evidence) and every one
    that reproduces a published number independently.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> from longmod.results.schema import effects_frame
    >>> eff = effects_frame([
    ...     {"analysis": "p", "day": 7, "contrast": "a - b", "estimate": 7.4, "engine": "published", "fact_keys": "k"},
    ...     {"analysis": "p", "day": 7, "contrast": "a - b", "estimate": 7.4, "engine": "ancova-ols"}])
    >>> res = SimpleNamespace(effects=eff, trial=None)
    >>> print(agreement_summary(res, {"k": (7.4, 0.05)}))  # doctest: +NORMALIZE_WHITESPACE
    published vs reproduced: 1 published result, 1 reproduction: 1 matches by construction, 0 independent checks
    agreeing, 0 differ
      matches by construction (a calibration target of the synthetic data, no evidence):
        p D7 a - b [ancova-ols]: estimate
    """
    from longmod.report.tables import published_vs_reproduced

    cal = calibration_targets(res.trial) if calibration is None else calibration
    t = published_vs_reproduced(res.effects, cal)
    if t.empty:
        return "published vs reproduced: no published result registered for these analyses"
    pub = t[t["source"] == "published"]
    ours = t[t["source"] != "published"]
    cons = ours[ours["by_construction"].astype(bool)]
    indep = ours[ours["agreement"].str.contains("independent", regex=False) & ~ours["by_construction"].astype(bool)]
    differ = ours[~ours.index.isin(cons.index) & ~ours.index.isin(indep.index)]

    def item(r) -> str:
        day = f" D{int(r['day'])}" if pd.notna(r["day"]) else ""
        parts = [a.split(":")[0] for a in str(r["agreement"]).split("; ") if BY_CONSTRUCTION in a or "independent" in a]
        return f"{r['analysis']}{day} {r['contrast']} [{r['test'] or r['source']}]: {', '.join(parts)}"

    lines = [f"published vs reproduced: {len(pub)} published result{'s' if len(pub) != 1 else ''}, {len(ours)} "
             f"reproduction{'s' if len(ours) != 1 else ''}: {len(cons)} match{'es' if len(cons) == 1 else ''} by "
             f"construction, {len(indep)} independent check{'s' if len(indep) != 1 else ''} agreeing, "
             f"{len(differ)} differ"]
    if len(cons):
        lines.append("  matches by construction (a calibration target of the synthetic data, no evidence):")
        lines += [f"    {item(r)}" for _, r in cons.iterrows()]
    if len(indep):
        lines.append("  reproduced independently (not a calibration target):")
        lines += [f"    {item(r)}" for _, r in indep.iterrows()]
    return "\n".join(lines)
