"""Patient-level values with exact published quantiles or counts, found by a seeded search.

One ``[generator.values.<name>]`` table adds one patients-table column
(``column``, default ``<name>``) or the measurements of one ``variable`` on one
``day``. Per arm, the values are drawn in one of three ways:

``pin`` + ``distribution``
    Order statistics placed so that R's type-7 quantiles equal the published
    ones exactly after rounding (``pin = {median = {...}, q1 = ..., q3 = ...}``;
    a quantile that falls on one order statistic is that value, even off the
    ``decimals`` grid);
    the other values drawn from ``distribution`` (``lognormal`` with
    ``median``/``sigma`` per arm, or ``knots``: a piecewise log-linear quantile
    function through published quantiles and assumed extremes) restricted to
    the interval between their neighbouring pinned values.
``windows``
    Exact counts of event days in day windows (``[{days = [a, b], counts =
    {...}}]``); the other patients have no event (empty).
``given``
    A log-normal value correlated (``correlation``) with the same variable on
    another ``day`` (marginal ``median``/``sigma`` per arm).

The values are then assigned to the arm's patients: in random order, by a
score (``order_by``: a patients column or a variable's value/change on a day,
plus Gaussian ``noise`` on the rank scale), or comonotonically with another
column subject to ``after = {column, min_gap}`` (values raised to that day +
``min_gap`` where needed, pinned ones excepted). Draws repeat (``max_draws``)
until every target listed in ``accept`` holds on the result; the targets are
evaluated by the same code that writes CALIBRATION.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from longmod.reconstruct.calibrate import CalibrationError
from longmod.reconstruct.tables import MEASUREMENT_COLUMNS, Tables


def _per_arm(v: Any, arm: str) -> Any:
    return v[arm] if isinstance(v, Mapping) else v


def pin_pair(value: float, frac: float, step: float, k: int = 1) -> tuple[float, float]:
    """Two neighbouring order statistics whose type-7 interpolation at ``frac`` is ``value`` on a ``step`` grid.

    The gap is the ``k``-th smallest multiple of ``step`` that keeps both
    values on the grid.

    Examples
    --------
    >>> pin_pair(362.0, 0.75, 1.0)
    (359.0, 363.0)
    >>> pin_pair(17.5, 0.5, 1.0, k=2)
    (16.0, 19.0)
    """
    found = 0
    for m in range(1, 10_000):
        g = m * step
        lo = value - frac * g
        if abs(lo / step - round(lo / step)) < 1e-6:
            found += 1
            if found == k:
                return round(lo / step) * step, round((value + (1 - frac) * g) / step) * step
    raise ValueError(f"no grid pair for {value} at fraction {frac}")


def _quantile_fn(dist: Mapping[str, Any], arm: str):
    """Inverse CDF of the block's distribution for ``arm``."""
    if "knots" in dist:
        kn = _per_arm(dist["knots"], arm)
        p = np.array([float(q) for q in kn["p"]])
        v = np.log(np.array([float(x) for x in kn["value"]]))
        return lambda u: np.exp(np.interp(u, p, v))
    mu = np.log(float(_per_arm(dist["median"], arm)))
    sigma = float(_per_arm(dist["sigma"], arm))
    return lambda u: np.exp(mu + sigma * stats.norm.ppf(u))


def _cdf_fn(qf):
    """Numerical CDF of the quantile function ``qf`` (interpolated on a fine grid)."""
    u = np.linspace(1e-6, 1 - 1e-6, 4001)
    q = qf(u)
    return lambda x: np.interp(x, q, u)


def _pinned_sample(block, arm: str, n: int, rng, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Sorted values and which of them are pinned order statistics."""
    pins = dict(block["pin"])
    order = {"q1": 0.25, "median": 0.5, "q3": 0.75}
    fixed: dict[int, float] = {}
    kmax = int(block.get("pin_gap_max", 1))
    for key, q in sorted(((k, order.get(k, None)) for k in pins), key=lambda kq: kq[1]):
        if q is None:
            raise ValueError(f"pin keys: q1, median, q3 (got {key!r})")
        h = (n - 1) * q
        lo = int(np.floor(h))
        frac = h - lo
        v = float(_per_arm(pins[key], arm))
        if frac < 1e-12:
            fixed[lo] = v
        else:
            fixed[lo], fixed[lo + 1] = pin_pair(v, frac, step, int(rng.integers(1, kmax + 1)))
    qf = _quantile_fn(block["distribution"], arm)
    lower, upper = float(block.get("lower", 0.0)), float(block.get("upper", np.inf))
    cdf = _cdf_fn(qf)
    ranks = sorted(fixed)
    out = np.empty(n)
    for r, v in fixed.items():
        out[r] = v
    edges = [lower, *[fixed[r] for r in ranks], upper]
    groups = [(ranks[j - 1] + 1 if j else 0, ranks[j] if j < len(ranks) else n) for j in range(len(ranks) + 1)]
    for j, (a, b) in enumerate(groups):
        if b <= a:
            continue
        u_lo, u_hi = cdf(max(edges[j], lower)), cdf(min(edges[j + 1], upper))
        vals = qf(rng.uniform(u_lo, u_hi, b - a))
        vals = np.clip(np.round(vals / step) * step, edges[j], edges[j + 1])
        out[a:b] = np.sort(vals)
    pinned = np.zeros(n, bool)
    pinned[list(fixed)] = True
    return out, pinned


def _window_sample(block, arm: str, n: int, rng) -> np.ndarray:
    out = []
    for w in block["windows"]:
        a, b = (int(d) for d in w["days"])
        k = int(_per_arm(w["counts"], arm))
        out += rng.integers(a, b + 1, size=k).astype(float).tolist()
    if len(out) > n:
        raise CalibrationError(f"values: {len(out)} events in arm {arm!r} of {n} patients")
    return np.array(sorted(out) + [np.nan] * (n - len(out)))


def _score(block, tables: Tables, ids: np.ndarray) -> np.ndarray:
    ob = block["order_by"]
    if "column" in ob:
        s = tables.patients.set_index("patient_id")[ob["column"]].reindex(ids).to_numpy(float)
    else:
        m = tables.measurements
        m = m[m["variable"] == ob["variable"]]
        val = m[m["day"] == int(ob["day"])].set_index("patient_id")["value"].reindex(ids).to_numpy(float)
        if ob.get("change"):
            val = val - m[m["day"] == int(ob.get("baseline_day", 0))].set_index("patient_id")["value"].reindex(ids).to_numpy(float)
        s = val
    return -s if ob.get("descending") else s


def _assign(block, tables: Tables, ids: np.ndarray, values: np.ndarray, rng,
            pinned: np.ndarray | None = None) -> np.ndarray | None:
    """Values in patient order (``ids``); ``None`` if the ``after`` constraint cannot hold.

    With ``after``, the k-th smallest value goes to the patient with the k-th
    smallest ``after`` column; a value below that day + ``min_gap`` is raised
    to it unless it is a pinned order statistic or the raise would change the
    values' order (then the draw is infeasible).
    """
    n = len(ids)
    if "after" in block:
        after = tables.patients.set_index("patient_id")[block["after"]["column"]].reindex(ids).to_numpy(float)
        order = np.argsort(after + rng.uniform(0, 1e-3, n), kind="stable")
        vals = np.sort(values)
        need = np.sort(after) + float(block["after"].get("min_gap", 0))
        low = vals < need
        if pinned is not None and np.any(low & pinned):
            return None
        vals = np.where(low, need, vals)
        if np.any(np.diff(vals) < 0):
            return None
        out = np.empty(n)
        out[order] = vals
        return out
    if "order_by" in block:
        s = _score(block, tables, ids)
        key = stats.rankdata(s) / n + rng.normal(0.0, float(block["order_by"].get("noise", 0.0)), n)
        order = np.argsort(key, kind="stable")
    else:
        order = rng.permutation(n)
    vals = values[np.argsort(np.where(np.isnan(values), np.inf, values), kind="stable")]
    out = np.empty(n)
    out[order] = vals
    return out


def _given(block, tables: Tables, ids: np.ndarray, arm: str, rng, step: float) -> np.ndarray:
    g = block["given"]
    m = tables.measurements
    m = m[(m["variable"] == block["variable"]) & (m["day"] == int(g["day"]))]
    other = np.log(m.set_index("patient_id")["value"].reindex(ids).to_numpy(float))
    z = (other - other.mean()) / other.std(ddof=1)
    rho = float(g["correlation"])
    e = rng.normal(size=len(ids))
    y = np.log(float(_per_arm(g["median"], arm))) + float(_per_arm(g["sigma"], arm)) * (rho * z + np.sqrt(1 - rho**2) * e)
    v = np.clip(np.exp(y), float(block.get("lower", 0.0)), float(block.get("upper", np.inf)))
    return np.round(v / step) * step


def draw_values(block: Mapping[str, Any], name: str, tables: Tables, arms: list[str],
                rng: np.random.Generator) -> Tables | None:
    """One draw of the block: new tables with its column or measurement rows, or ``None`` (infeasible).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> pts = pd.DataFrame({"patient_id": list("abcdef"), "arm": list("xxxyyy")})
    >>> doc = {"trial": {"arms": ["x", "y"], "reference_arm": "y"}}
    >>> block = {"pin": {"median": {"x": 10, "y": 20}}, "lower": 1, "upper": 90,
    ...          "distribution": {"median": {"x": 10, "y": 20}, "sigma": 0.4}}
    >>> t = draw_values(block, "days", Tables(pts, pd.DataFrame(columns=list(MEASUREMENT_COLUMNS)), doc),
    ...                 ["x", "y"], np.random.default_rng(1))
    >>> t.patients.groupby("arm")["days"].median().tolist()
    [10.0, 20.0]
    """
    step = 10.0 ** -int(block.get("decimals", 0))
    pts = tables.patients
    result = pd.Series(np.nan, index=pts["patient_id"].to_numpy())
    for arm in arms:
        ids = pts.loc[pts["arm"] == arm, "patient_id"].to_numpy()
        if "given" in block:
            result[ids] = _given(block, tables, ids, arm, rng, step)
            continue
        pinned = None
        if "windows" in block:
            vals = _window_sample(block, arm, len(ids), rng)
        else:
            vals, pinned = _pinned_sample(block, arm, len(ids), rng, step)
        out = _assign(block, tables, ids, vals, rng, pinned)
        if out is None:
            return None
        result[ids] = out
    if "variable" in block:
        rows = pd.DataFrame({"patient_id": result.index, "day": int(block["day"]), "variable": str(block["variable"]),
                             "value": result.to_numpy(float), "lloq": np.nan})
        rows = rows[rows["value"].notna()]
        parts = [m for m in (tables.measurements, rows) if len(m)]
        meas = pd.concat(parts, ignore_index=True)[list(MEASUREMENT_COLUMNS)] if parts else rows
        return Tables(pts, meas, tables.doc)
    col = str(block.get("column", name))
    new = pts.copy()
    new[col] = result.reindex(new["patient_id"]).to_numpy(float)
    return Tables(new, tables.measurements, tables.doc)


def add_values(spec, name: str, tables: Tables, rng: np.random.Generator, check) -> tuple[Tables, int]:
    """Draw the ``[generator.values.<name>]`` block until its ``accept`` targets hold.

    Parameters
    ----------
    spec : TargetSpec
    name : str
    tables : Tables
        The fixture so far (not modified).
    rng : numpy.random.Generator
        The block's own stream.
    check : callable
        ``check(tables, ids) -> list of failing target ids``.

    Returns
    -------
    tuple
        ``(tables, draws)``.

    Raises
    ------
    CalibrationError
        When no draw meets the targets; names them.

    Examples
    --------
    See :func:`longmod.reconstruct.build_fixture`.
    """
    block = spec.generator["values"][name]
    arms = list(spec.arms)
    accept = list(block.get("accept", ()))
    failing: list[str] = ["(no feasible draw)"]
    for draw in range(1, int(block.get("max_draws", 2000)) + 1):
        new = draw_values(block, name, tables, arms, rng)
        if new is None:
            continue
        failing = check(new, accept) if accept else []
        if not failing:
            return new, draw
    raise CalibrationError(f"generator.values.{name}: no draw in {block.get('max_draws', 2000)} met "
                           f"{', '.join(failing)}; check the distribution assumptions or raise max_draws")
