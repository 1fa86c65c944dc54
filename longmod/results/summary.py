"""Compact text summaries of a FitResult (lmerTest / mmrm style) and its one-line repr."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd


def _num(x: Any, digits: int = 4) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isnan(v):
        return "NA"
    if math.isinf(v):
        return "Inf"
    if v != 0 and (abs(v) >= 1e6 or abs(v) < 1e-3):
        return f"{v:.{digits - 1}e}"
    return f"{v:.{digits}f}"


def _pval(p: Any) -> str:
    try:
        v = float(p)
    except (TypeError, ValueError):
        return str(p)
    if math.isnan(v):
        return "NA"
    return "<1e-04" if v < 1e-4 else f"{v:.4f}"


def _table(frame: pd.DataFrame, first: str, cols: list[tuple[str, str, Any]]) -> list[str]:
    """Fixed-width text table: ``first`` column left aligned, then (header, column, formatter)."""
    cells = [[str(v) for v in frame[first]]] + [[fmt(v) for v in frame[c]] for _, c, fmt in cols]
    heads = [""] + [h for h, _, _ in cols]
    widths = [max(len(h), *(len(x) for x in col)) if len(col) else len(h) for h, col in zip(heads, cells)]
    lines = ["  ".join([heads[0].ljust(widths[0])] + [h.rjust(w) for h, w in zip(heads[1:], widths[1:])])]
    for i in range(len(frame)):
        lines.append("  ".join([cells[0][i].ljust(widths[0])] + [cells[k][i].rjust(widths[k]) for k in range(1, len(cells))]))
    return lines


def summary_text(fit: Any) -> str:
    """Multi-line summary: model, fit statistics, covariance parameters, fixed effects, treatment effects."""
    fs = dict(fit.fit_stats)
    conv = fit.convergence
    df_method = fs.get("df_method", "")
    lines = [f"Linear mixed model fit by {str(fs.get('method', '')).upper()} ({fit.engine} {fit.engine_version})"]
    if fs.get("formula"):
        lines.append(f"Formula: {fs['formula']}")
    lines.append(f"Data: {fs.get('n_obs', 'NA')} observations of {fs.get('n_patients', 'NA')} patients"
                 + (f"; {fs['n_dropped']} row(s) with missing values dropped" if fs.get("n_dropped") else ""))
    lines.append(f"Covariance: {fs.get('covariance', '')}; df: {df_method}; vcov: {fs.get('vcov_method', 'model')}")
    ll = fs.get("log_likelihood")
    if ll is not None:
        lines.append(f"logLik {_num(ll, 2)}  -2logLik {_num(fs.get('neg2_log_likelihood'), 2)}  "
                     f"AIC {_num(fs.get('aic'), 2)}  BIC {_num(fs.get('bic'), 2)}")
    status = "converged" if conv.converged else "NOT converged"
    if fs.get("singular"):
        status += " (singular fit)"
    lines.append(f"Optimiser: {conv.optimizer or 'n/a'}: {status}")
    if len(fit.covariance):
        lines += ["", "Covariance parameters:"]
        lines += ["  " + x for x in _table(fit.covariance, "parameter", [("Estimate", "estimate", _num)])]
    if len(fit.params):
        lines += ["", f"Fixed effects ({df_method} df):"]
        lines += ["  " + x for x in _table(fit.params, "term", [
            ("Estimate", "estimate", _num), ("Std. Error", "std_error", _num), ("df", "df", lambda v: _num(v, 1)),
            ("t value", "statistic", lambda v: _num(v, 3)), ("Pr(>|t|)", "p_value", _pval)])]
    eff = fit.effects
    if len(eff):
        label = eff["contrast"].iloc[0] if "contrast" in eff else ""
        lines += ["", f"Treatment effects ({label}):"]
        e = eff.assign(where=eff["visit"].astype(str) if "visit" in eff and eff["visit"].notna().any() else "all")
        lines += ["  " + x for x in _table(e, "where", [
            ("Estimate", "estimate", _num), ("Std. Error", "std_error", _num), ("df", "df", lambda v: _num(v, 1)),
            ("lower", "conf_low", _num), ("upper", "conf_high", _num), ("p", "p_value", _pval),
            ("n", "n_obs", lambda v: "NA" if pd.isna(v) else str(int(v)))])]
    if conv.warnings:
        lines += ["", "Warnings:"] + [f"  - {w}" for w in conv.warnings]
    return "\n".join(lines)


def short_repr(fit: Any) -> str:
    """One line per key fact (``print(fit)``)."""
    fs = dict(fit.fit_stats)
    bits = [f"<FitResult {fit.engine}", f"{fs.get('covariance', '')}", f"{str(fs.get('method', '')).upper()}"]
    if fs.get("formula"):
        bits.append(repr(fs["formula"]))
    head = " ".join(b for b in bits if b) + ">"
    facts = [f"n_obs={fs.get('n_obs', 'NA')}", f"n_patients={fs.get('n_patients', 'NA')}"]
    if fs.get("neg2_log_likelihood") is not None:
        facts.append(f"-2logLik={_num(fs['neg2_log_likelihood'], 4)}")
    facts.append(f"converged={bool(fit.convergence.converged)}")
    if fs.get("singular"):
        facts.append("singular=True")
    if fit.convergence.warnings:
        facts.append(f"warnings={len(fit.convergence.warnings)}")
    out = [head, "  " + ", ".join(facts)]
    eff = fit.effects
    if len(eff):
        e = eff.iloc[np.argmax(eff["day"].fillna(-np.inf).to_numpy())] if "day" in eff else eff.iloc[-1]
        where = f" at {e['visit']}" if "visit" in eff and pd.notna(e.get("visit")) else ""
        out.append(f"  effect {e['contrast']}{where}: {_num(e['estimate'])} "
                   f"({_num(e['conf_low'])} to {_num(e['conf_high'])}), p = {_pval(e['p_value'])}; "
                   f"{len(eff)} effect row(s); fit.summary() for more")
    return "\n".join(out)
