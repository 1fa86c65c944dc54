"""Daily ordinal states (e.g. a clinical status scale) built from event-day columns.

A ``[generator.paths.<name>]`` table describes, for one ordinal ``variable``
measured daily on ``days = [first, last]``:

``start``
    The level on the first day: ``{column = ..., levels = {"0" = 5, "1" = 6}}``
    (by a patients column) or a constant ``level``.
``chain``
    Ordered phases ``{column, level}``: from the day in ``column`` on, the
    level is ``level``; on any day the latest phase started so far sets the
    level (ties: the later phase in the chain). A phase with ``draw = {before,
    span = [a, b]}`` has its day drawn here, ``a``-``b`` days before the
    column ``before`` and after the previous phase (kept only with ``keep =
    true``); ``who`` (a pandas query) limits a phase to some patients.
``improvement``
    ``{day, counts = {arm = k}, by = column}``: exactly ``k`` patients per arm
    are at a lower level on ``day`` than on the first day (the ``k`` with the
    smallest ``by``; ties at random), the others are not. Drawn phase days are
    moved to make it so; an impossible request is an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from longmod.reconstruct.calibrate import CalibrationError
from longmod.reconstruct.tables import MEASUREMENT_COLUMNS, Tables


def level_on(day: int, start: int, phases: list[tuple[float, int]]) -> int:
    """The level on ``day``: the latest phase started by then (``(start_day, level)`` in chain order).

    Examples
    --------
    >>> level_on(5, 5, [(3.0, 4), (9.0, 3), (float("nan"), 8)])
    4
    """
    best, level = -1.0, start
    for d, lev in phases:
        if not np.isnan(d) and d <= day and d >= best:
            best, level = d, lev
    return level


def _start_level(spec: Mapping[str, Any], row) -> int:
    st = spec["start"]
    if "level" in st:
        return int(st["level"])
    v = row[st["column"]]
    key = str(int(v)) if isinstance(v, (int, float, np.integer, np.floating)) else str(v)
    return int(st["levels"][key])


def _draw_phases(spec, row, rng, want_improved: bool | None) -> dict[str, float]:
    """Phase days of one patient (given ones read, drawn ones drawn) meeting the improvement rule."""
    chain = list(spec["chain"])
    days = {c["column"]: float(row[c["column"]]) if c["column"] in row.index else np.nan for c in chain}
    names = [c["column"] for c in chain]

    def before(c) -> float:
        """Day of the phase ``c`` must precede (the next known phase if that one is empty)."""
        for col in names[names.index(c["draw"]["before"]):]:
            if not np.isnan(days[col]):
                return days[col]
        return np.nan

    applies = {c["column"]: (not c.get("who")) or bool(pd.DataFrame([row]).eval(c["who"]).iloc[0]) for c in chain}
    first = int(spec["days"][0])
    for c in reversed(chain):  # drawn phases, backwards from the column they precede
        if "draw" not in c:
            continue
        col = c["column"]
        if not applies[col]:
            days[col] = np.nan
            continue
        nxt = before(c)
        a, b = (int(x) for x in c["draw"]["span"])
        days[col] = float(max(first + 1, nxt - rng.integers(a, b + 1))) if not np.isnan(nxt) else np.nan
        if not np.isnan(days[col]) and days[col] >= nxt:
            days[col] = np.nan  # no room for this phase
    if want_improved is None:
        return days
    imp = spec["improvement"]
    d_imp = int(imp["day"])
    start = _start_level(spec, row)
    lowering = [c for c in chain if applies[c["column"]] and int(c["level"]) < start]
    drawn = [c for c in lowering if "draw" in c]
    for _ in range(2):
        known = [days[c["column"]] for c in lowering if not np.isnan(days[c["column"]])]
        earliest = min(known) if known else np.inf
        if (earliest <= d_imp) == want_improved:
            break
        if not drawn:
            raise CalibrationError(f"paths: patient {row['patient_id']} cannot be made {'im' if want_improved else 'not im'}proved "
                                   f"on day {d_imp} (no drawn phase to move)")
        c = drawn[0]
        nxt = before(c)
        if want_improved:
            hi = min(d_imp, nxt - 1)
            if hi < first + 1:
                raise CalibrationError(f"paths: patient {row['patient_id']}: no day for {c['column']} by day {d_imp}")
            days[c["column"]] = float(rng.integers(first + 1, hi + 1))
        else:
            for later in reversed(lowering):  # later phases first, so each 'before' day is final
                col = later["column"]
                if not np.isnan(days[col]) and days[col] <= d_imp:
                    if "draw" not in later:
                        raise CalibrationError(f"paths: patient {row['patient_id']}: {col} on day {days[col]:g} "
                                               f"improves them by day {d_imp}")
                    lim = before(later) - 1
                    days[col] = float(rng.integers(d_imp + 1, lim + 1)) if lim >= d_imp + 1 else np.nan
    return days


def add_path(spec_all, name: str, tables: Tables, rng: np.random.Generator) -> Tables:
    """Add the daily levels of ``[generator.paths.<name>]`` (and its kept phase columns).

    Parameters
    ----------
    spec_all : TargetSpec
    name : str
    tables : Tables
        The fixture so far (not modified).
    rng : numpy.random.Generator
        The path's own stream.

    Returns
    -------
    Tables

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from types import SimpleNamespace as NS
    >>> pts = pd.DataFrame({"patient_id": ["a", "b"], "arm": ["x", "y"], "stop": [5.0, 9.0]})
    >>> spec = NS(arms=("x", "y"), generator={"paths": {"lvl": {"variable": "lvl", "days": [0, 10],
    ...     "start": {"level": 5}, "chain": [{"column": "stop", "level": 3}]}}})
    >>> t = add_path(spec, "lvl", Tables(pts, pd.DataFrame(columns=list(MEASUREMENT_COLUMNS)), {}), np.random.default_rng(0))
    >>> t.measurements.groupby("patient_id")["value"].min().tolist()
    [3.0, 3.0]
    """
    spec = spec_all.generator["paths"][name]
    pts = tables.patients.copy()
    first, last = (int(d) for d in spec["days"])
    want: dict[str, bool | None] = dict.fromkeys(pts["patient_id"], None)
    imp = spec.get("improvement")
    if imp:
        for arm in spec_all.arms:
            sub = pts[pts["arm"] == arm]
            key = sub[imp["by"]].to_numpy(float) + rng.uniform(0, 1e-3, len(sub))
            k = int(imp["counts"][arm])
            chosen = set(sub["patient_id"].to_numpy()[np.argsort(key, kind="stable")[:k]])
            for pid in sub["patient_id"]:
                want[pid] = pid in chosen
    rows, kept = [], {c["column"]: [] for c in spec["chain"] if c.get("keep")}
    for _, row in pts.iterrows():
        days = _draw_phases(spec, row, rng, want[row["patient_id"]])
        start = _start_level(spec, row)
        phases = [(days[c["column"]], int(c["level"])) for c in spec["chain"]]
        for d in range(first, last + 1):
            rows.append((row["patient_id"], d, str(spec["variable"]), float(level_on(d, start, phases)), np.nan))
        for col in kept:
            kept[col].append(days[col])
    for col, vals in kept.items():
        pts[col] = vals
    new = pd.DataFrame(rows, columns=list(MEASUREMENT_COLUMNS))
    meas = pd.concat([tables.measurements, new], ignore_index=True) if len(tables.measurements) else new
    return Tables(pts, meas[list(MEASUREMENT_COLUMNS)], tables.doc)
