"""Registry of published results, as data (TOML files beside this module)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pandas as pd

from longmod.results.schema import effects_frame

_HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class PublishedResult:
    """One published number (or estimate with CI) and its verbatim source quote."""

    id: str
    analysis: str
    estimand: str
    outcome: str
    day: int
    contrast: str
    statistic: str
    population: str
    quote: str
    estimate: float
    conf_low: float | None = None
    conf_high: float | None = None
    p_value: float | None = None
    sd: float | None = None
    q1: float | None = None
    q3: float | None = None
    fact_keys: tuple[str, ...] = ()


def available_trials() -> list[str]:
    """Trials with a published-results file, e.g. ``['stroma-cov2']``."""
    return sorted(p.stem.replace("_", "-") for p in _HERE.glob("*.toml"))


@lru_cache(maxsize=None)
def _load(trial: str) -> tuple[dict, tuple[PublishedResult, ...]]:
    path = _HERE / f"{trial.replace('-', '_')}.toml"
    if not path.is_file():
        raise KeyError(f"no published results for trial {trial!r}; available: {', '.join(available_trials())}")
    doc = tomllib.loads(path.read_text(encoding="utf-8"))
    results = tuple(
        PublishedResult(id=rid, **{**r, "fact_keys": tuple(r.get("fact_keys", ()))}) for rid, r in doc["results"].items()
    )
    return doc["trial"], results


def published_results(trial: str) -> list[PublishedResult]:
    """Every published result registered for ``trial``.

    Examples
    --------
    >>> r = {x.id: x for x in published_results("stroma-cov2")}["primary_ancova"]
    >>> r.estimate, r.conf_low, r.conf_high, r.p_value
    (7.4, -44.7, 59.7, 0.77)
    """
    return list(_load(trial)[1])


def published_citation(trial: str) -> str:
    """Citation of the paper the results come from."""
    return _load(trial)[0].get("citation", "")


def published_effects(trial: str) -> pd.DataFrame:
    """Published treatment effects (those with a CI) as common-schema rows.

    Returns
    -------
    pandas.DataFrame
        Common schema with ``engine = "published"``, ``data_label =
        "published"`` and the verbatim ``source_quote``. ``std_error`` is NaN
        (not published).

    Examples
    --------
    >>> t = published_effects("stroma-cov2")
    >>> t[["analysis", "estimate", "conf_low", "conf_high", "p_value", "engine"]].to_dict("records")[0]
    {'analysis': 'primary_ancova', 'estimate': 7.4, 'conf_low': -44.7, 'conf_high': 59.7, 'p_value': 0.77, 'engine': 'published'}
    """
    rows = [
        {
            "analysis": r.analysis, "estimand": r.estimand, "outcome": r.outcome, "day": r.day,
            "contrast": r.contrast, "estimate": r.estimate, "conf_low": r.conf_low, "conf_high": r.conf_high,
            "p_value": r.p_value, "engine": "published", "engine_version": "", "data_label": "published",
            "source_quote": r.quote,
        }
        for r in published_results(trial)
        if r.conf_low is not None and r.conf_high is not None
    ]
    return effects_frame(rows)


def published_descriptives(trial: str) -> pd.DataFrame:
    """Published descriptive statistics, one row per number.

    Returns
    -------
    pandas.DataFrame
        Columns ``id``, ``estimand``, ``variable`` (``baseline``, ``value`` or
        ``change``), ``arm``, ``day``, ``statistic`` (``mean``, ``sd``,
        ``median``, ``q1``, ``q3``, ``p_value``), ``published``, ``quote``.

    Examples
    --------
    >>> d = published_descriptives("stroma-cov2")
    >>> d.loc[d.statistic == "median", "published"].tolist()
    [54.3, 25.3]
    """
    rows = []
    for r in published_results(trial):
        if r.conf_low is not None:
            continue
        variable = "change" if r.outcome.endswith("_change") else ("baseline" if r.day == 0 else "value")
        stat_main = "median" if r.q1 is not None else "mean"
        for stat, val in ((stat_main, r.estimate), ("sd", r.sd), ("q1", r.q1), ("q3", r.q3), ("p_value", r.p_value)):
            if val is not None:
                rows.append({"id": r.id, "estimand": r.estimand, "variable": variable, "arm": r.contrast,
                             "day": r.day, "statistic": stat, "published": val, "quote": r.quote})
    return pd.DataFrame(rows, columns=["id", "estimand", "variable", "arm", "day", "statistic", "published", "quote"])
