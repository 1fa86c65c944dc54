"""The seeded parametric model that draws pseudo-patients before calibration.

:func:`draw_patients` turns the ``[generator]`` table of a targets file into a
patients table (arms, exact-count binary and categorical columns, continuous
nuisance columns, intercurrent events before the endpoint) and the *anchors*:
the patient-level latent outcome values the calibration may move (baseline,
endpoint value of patients observed at the endpoint, last observed value of
patients discharged before it), each with its bounds. :func:`fill_trajectories`
later draws the days between anchors from its own random stream.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd


class GeneratorError(ValueError):
    """The ``[generator]`` assumptions are inconsistent (e.g. counts exceed arm sizes)."""


@dataclass(frozen=True)
class Draw:
    """One draw of the generative model.

    Attributes
    ----------
    patients : pandas.DataFrame
        One row per patient (canonical columns and nuisance columns).
    anchors : pandas.DataFrame
        ``patient_id``, ``day``, ``role`` (``baseline``/``endpoint``/``last``),
        ``value`` (initial), ``lower``, ``upper``: the calibrated latent values.
    last_day : pandas.Series
        Last measured day per patient (index ``patient_id``).
    """

    patients: pd.DataFrame
    anchors: pd.DataFrame
    last_day: pd.Series


def _per_arm(table: Mapping, key: str, arm: str, default: Any = None) -> Any:
    v = table.get(key, default)
    if isinstance(v, Mapping):
        if arm not in v:
            raise GeneratorError(f"generator: '{key}' has no value for arm {arm!r}")
        return v[arm]
    return v


def _exact_subset(rng: np.random.Generator, n: int, k: int, what: str) -> np.ndarray:
    if not 0 <= k <= n:
        raise GeneratorError(f"generator: {what} count {k} is not between 0 and the arm size {n}")
    flag = np.zeros(n, dtype=int)
    flag[rng.permutation(n)[:k]] = 1
    return flag


def _baseline(rng, gen, arm_of, arms) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    b = gen["baseline"]
    lo, hi = float(b.get("lower", 20.0)), float(b.get("upper", 700.0))
    x = np.empty(len(arm_of))
    for arm in arms:
        sel = arm_of == arm
        x[sel] = rng.normal(float(_per_arm(b, "mean", arm)), float(_per_arm(b, "sd", arm)), sel.sum())
    x = np.clip(x, lo + 1.0, hi)
    lower, upper = np.full(len(x), lo), np.full(len(x), hi)
    cats = b.get("categories")
    if not cats:
        return x, lower, upper, None
    counts = [int(c) for c in cats["counts"]]
    ub = [float(u) for u in cats["upper_bounds"]]
    if sum(counts) != len(x) or len(counts) != len(ub):
        raise GeneratorError(f"generator: baseline category counts {counts} must sum to {len(x)} and match upper_bounds {ub}")
    step = 10.0 ** -int(b.get("decimals", 1))
    order = np.argsort(x, kind="stable")
    cat = np.empty(len(x), dtype=int)
    start = 0
    for k, c in enumerate(counts):
        cat[order[start : start + c]] = k
        start += c
    edges = [lo, *ub]
    for i in range(len(x)):
        k = cat[i]
        # category k is (edges[k], edges[k+1]]; bounds stay inside after rounding
        lower[i] = edges[k] + (step if k > 0 else 0.0)
        upper[i] = edges[k + 1]
        if x[i] < lower[i]:
            x[i] = rng.uniform(lower[i], min(lower[i] + 20.0, upper[i]))
        elif x[i] > upper[i]:
            x[i] = rng.uniform(max(upper[i] - 20.0, lower[i]), upper[i])
    return x, lower, upper, cat


def _matched_sets(rng, gen, pts: pd.DataFrame, arms) -> np.ndarray | None:
    """Matched-set ids 1..k: ``active_per_set`` patients of the first arm with their share of every other arm.

    With ``match_on`` (a column drawn before), a set's patients share its value.
    """
    ms = gen.get("matched_sets")
    if not ms:
        return None
    per = int(ms.get("active_per_set", 1))
    arm_of = pts["arm"].to_numpy()
    key = pts[ms["match_on"]].astype(str).to_numpy() if ms.get("match_on") else np.full(len(pts), "")
    first = np.flatnonzero(arm_of == arms[0])
    if len(first) % per:
        raise GeneratorError(f"generator.matched_sets: {len(first)} {arms[0]} patients do not split into sets of {per}")
    out = np.zeros(len(arm_of), dtype=int)
    next_id = 1
    for level in sorted(set(key)):
        n_sets = int((key[first] == level).sum()) // per
        if (key[first] == level).sum() % per:
            raise GeneratorError(f"generator.matched_sets: {arms[0]} patients with {ms.get('match_on')} = {level} "
                                 f"do not split into sets of {per}")
        for arm in arms:
            idx = np.flatnonzero((arm_of == arm) & (key == level))
            if n_sets == 0 or len(idx) % n_sets:
                raise GeneratorError(f"generator.matched_sets: {len(idx)} {arm} patients with "
                                     f"{ms.get('match_on') or 'no matching column'} = {level!r} do not fill {n_sets} set(s) evenly")
            out[idx[rng.permutation(len(idx))]] = np.repeat(np.arange(next_id, next_id + n_sets), len(idx) // n_sets)
        next_id += n_sets
    return out


def draw_patient_table(gen: Mapping[str, Any], rng: np.random.Generator) -> pd.DataFrame:
    """Patients, arms, matched sets and the covariates with exact counts (no outcome yet).

    Parameters
    ----------
    gen : mapping
        The ``[generator]`` table: ``arms`` (arm = size), ``id_prefix``,
        ``matched_sets`` (``column``, ``active_per_set``, ``match_on``), ``binary.<col>``
        (``counts`` per arm), ``categorical.<col>`` (``values``, ``counts`` per
        arm), ``normal.<col>`` (``mean``, ``sd``, ``lower``, ``upper``,
        ``decimals``). Not modified.
    rng : numpy.random.Generator

    Returns
    -------
    pandas.DataFrame

    Examples
    --------
    >>> import numpy as np
    >>> gen = {"arms": {"a": 2, "b": 4}, "matched_sets": {"column": "set"}}  # 2 sets of 1 + 2
    >>> pts = draw_patient_table(gen, np.random.default_rng(0))
    >>> pts.groupby("set")["arm"].apply(lambda a: "".join(sorted(a))).tolist()
    ['abb', 'abb']
    """
    arms = list(gen["arms"])
    sizes = [int(gen["arms"][a]) for a in arms]
    n = sum(sizes)
    arm_of = np.array([a for a, s in zip(arms, sizes) for _ in range(s)])
    arm_of = arm_of[rng.permutation(n)]  # blinded ids: arm not guessable from the id
    width = max(2, len(str(n)))
    ids = [f"{gen.get('id_prefix', 'P')}{i + 1:0{width}d}" for i in range(n)]
    pts = pd.DataFrame({"patient_id": ids, "arm": arm_of})
    for name, spec in dict(gen.get("binary", {})).items():
        col = np.zeros(n, dtype=int)
        for arm in arms:
            sel = np.flatnonzero(arm_of == arm)
            col[sel] = _exact_subset(rng, len(sel), int(_per_arm(spec, "counts", arm)), f"{name}/{arm}")
        pts[name] = col
    for name, spec in dict(gen.get("categorical", {})).items():
        values = list(spec["values"])
        col = np.empty(n, dtype=object)
        for arm in arms:
            sel = np.flatnonzero(arm_of == arm)
            counts = [int(c) for c in _per_arm(spec, "counts", arm)]
            if sum(counts) != len(sel):
                raise GeneratorError(f"generator: {name} counts {counts} for arm {arm!r} must sum to the arm size {len(sel)}")
            col[sel[rng.permutation(len(sel))]] = np.repeat(values, counts)
        pts[name] = list(col)
    for name, spec in dict(gen.get("normal", {})).items():
        v = rng.normal(float(spec["mean"]), float(spec["sd"]), n)
        v = np.clip(v, float(spec.get("lower", -np.inf)), float(spec.get("upper", np.inf)))
        pts[name] = np.round(v, int(spec.get("decimals", 1)))
    sets = _matched_sets(rng, gen, pts, arms)
    if sets is not None:
        pts[str(gen["matched_sets"]["column"])] = sets
    return pts


def event_columns(gen: Mapping[str, Any]) -> dict[str, str]:
    """Event kind -> patients-table column of the events drawn before the endpoint.

    Examples
    --------
    >>> event_columns({"events": {"death": {"column": "died_on"}}})
    {'death': 'died_on'}
    """
    out = {}
    for kind, spec in dict(gen.get("events", {})).items():
        if "column" not in spec:
            raise GeneratorError(f"generator.events.{kind}: give 'column', the patients-table column of the event day")
        out[kind] = str(spec["column"])
    return out


def draw_patients(gen: Mapping[str, Any], *, baseline_day: int, endpoint_day: int, rng: np.random.Generator) -> Draw:
    """Draw patients and initial anchors from the ``[generator]`` assumptions.

    :func:`draw_patient_table`, then the outcome's baseline (optionally in
    categories with exact counts), the intercurrent events before the
    endpoint (``events.<kind>``: ``column``, ``counts`` per arm, ``days``,
    ``from`` the low or high end of the baseline, ``baseline_fraction``) and
    the anchors.

    Parameters
    ----------
    gen : mapping
        The ``[generator]`` table of a targets file (not modified).
    baseline_day, endpoint_day : int
    rng : numpy.random.Generator
        The draw's random stream.

    Returns
    -------
    Draw

    Examples
    --------
    >>> import numpy as np
    >>> gen = {"arms": {"a": 3, "b": 3}, "baseline": {"mean": 150, "sd": 50},
    ...        "endpoint": {"mean": 180, "sd": 60, "correlation": 0.6},
    ...        "binary": {"imv": {"counts": {"a": 1, "b": 2}}}}
    >>> d = draw_patients(gen, baseline_day=0, endpoint_day=7, rng=np.random.default_rng(1))
    >>> d.patients.groupby("arm")["imv"].sum().to_dict(), len(d.anchors)
    ({'a': 1, 'b': 2}, 12)
    """
    pts = draw_patient_table(gen, rng)
    arms = list(gen["arms"])
    arm_of = pts["arm"].to_numpy()
    ids = pts["patient_id"].tolist()
    n = len(pts)
    base, blo, bhi, cat = _baseline(rng, gen, arm_of, arms)
    if cat is not None:
        c = gen["baseline"]["categories"]
        pts[str(c.get("column", "baseline_category"))] = [c["labels"][k] for k in cat]

    # intercurrent events before the endpoint (exact counts per arm)
    columns = event_columns(gen)
    death = np.full(n, np.nan)
    disch = np.full(n, np.nan)
    events = dict(gen.get("events", {}))
    for arm in arms:
        idx = np.flatnonzero(arm_of == arm)
        free = set(idx.tolist())
        by_base = idx[np.argsort(base[idx], kind="stable")]
        for ev, target in (("death", death), ("discharge", disch)):
            spec = events.get(ev)
            if not spec:
                continue
            k = int(_per_arm(spec, "counts", arm, 0))
            frac = float(spec.get("baseline_fraction", 1.0))
            pool = by_base if spec.get("from", "low") == "low" else by_base[::-1]
            pool = [i for i in pool[: max(k, int(np.ceil(frac * len(idx))))] if i in free]
            if k > len(pool):
                raise GeneratorError(f"generator: cannot place {k} {ev}(s) in arm {arm!r}")
            chosen = rng.choice(pool, size=k, replace=False) if k else []
            d0, d1 = (int(d) for d in spec["days"])
            if not baseline_day < d0 <= d1 <= endpoint_day:
                raise GeneratorError(f"generator: {ev} days {d0}-{d1} must lie after the baseline and by day {endpoint_day}")
            for i in chosen:
                target[i] = rng.integers(d0, d1 + 1)
                free.discard(int(i))
    for kind, values in (("death", death), ("discharge", disch)):
        if kind in columns:
            pts[columns[kind]] = values

    e = gen["endpoint"]
    rows = []
    last_day = {}
    dis = events.get("discharge", {})
    for i in range(n):
        arm = arm_of[i]
        rows.append((ids[i], baseline_day, "baseline", base[i], blo[i], bhi[i]))
        if not np.isnan(death[i]):
            last_day[ids[i]] = int(death[i]) - 1
        elif not np.isnan(disch[i]):
            ld = int(disch[i]) - 1
            last_day[ids[i]] = ld
            if ld > baseline_day:
                v = rng.normal(float(_per_arm(dis, "last_mean", arm)), float(_per_arm(dis, "last_sd", arm, 30.0)))
                lo, hi = float(dis.get("lower", 20.0)), float(dis.get("upper", 700.0))
                rows.append((ids[i], ld, "last", float(np.clip(v, lo + 1, hi - 1)), lo, hi))
        else:
            last_day[ids[i]] = endpoint_day
            b = gen["baseline"]
            m0, s0 = float(_per_arm(b, "mean", arm)), float(_per_arm(b, "sd", arm))
            m7, s7 = float(_per_arm(e, "mean", arm)), float(_per_arm(e, "sd", arm))
            rho = float(_per_arm(e, "correlation", arm, 0.5))
            v = m7 + rho * s7 / s0 * (base[i] - m0) + np.sqrt(1 - rho**2) * s7 * rng.normal()
            lo, hi = float(e.get("lower", 20.0)), float(e.get("upper", 700.0))
            rows.append((ids[i], endpoint_day, "endpoint", float(np.clip(v, lo + 1, hi - 1)), lo, hi))
    anchors = pd.DataFrame(rows, columns=["patient_id", "day", "role", "value", "lower", "upper"])
    return Draw(pts, anchors, pd.Series(last_day, name="last_day"))


def fill_trajectories(
    anchors: pd.DataFrame, patients: pd.DataFrame, last_day: pd.Series, traj: Mapping[str, Any], *,
    baseline_day: int, rng: np.random.Generator, decimals: int, death_column: str | None = None,
) -> pd.DataFrame:
    """Daily values from the baseline to each patient's last measured day.

    Between anchors: linear interpolation plus an AR(1) bridge (noise pinned to
    zero at the anchors, so anchor values are kept exactly). Patients who die
    before the endpoint decline from their baseline towards ``death_decline`` x
    baseline. Values are rounded to ``decimals``.

    Parameters
    ----------
    anchors : pandas.DataFrame
        Calibrated anchors (``patient_id``, ``day``, ``value``).
    patients : pandas.DataFrame
    last_day : pandas.Series
        Last measured day per patient.
    traj : mapping
        ``ar_sd``, ``ar_phi``, ``lower``, ``upper``, ``death_decline``.
    baseline_day : int
    rng : numpy.random.Generator
    decimals : int
    death_column : str, optional
        Patients-table column of the death day (patients with a single anchor
        who died decline; others stay flat).

    Returns
    -------
    pandas.DataFrame
        ``patient_id``, ``day``, ``value`` sorted by patient and day.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> a = pd.DataFrame({"patient_id": ["p", "p"], "day": [0, 3], "value": [100.0, 160.0]})
    >>> pts = pd.DataFrame({"patient_id": ["p"]})
    >>> out = fill_trajectories(a, pts, pd.Series({"p": 3}), {"ar_sd": 0.0}, baseline_day=0,
    ...                         rng=np.random.default_rng(0), decimals=1)
    >>> out["value"].tolist()
    [100.0, 120.0, 140.0, 160.0]
    """
    sd, phi = float(traj.get("ar_sd", 30.0)), float(traj.get("ar_phi", 0.5))
    lo, hi = float(traj.get("lower", 20.0)), float(traj.get("upper", 700.0))
    decline = float(traj.get("death_decline", 0.75))
    death = dict(zip(patients["patient_id"], patients[death_column])) if death_column else {}
    out = []
    for pid, g in anchors.sort_values(["patient_id", "day"]).groupby("patient_id", sort=True):
        days_a = g["day"].to_numpy(int)
        vals_a = g["value"].to_numpy(float)
        end = int(last_day[pid])
        days = np.arange(baseline_day, end + 1)
        if len(days_a) == 1 and end > baseline_day:  # died: decline towards death
            d = death.get(pid, np.nan)
            days_a = np.array([baseline_day, end])
            vals_a = np.array([vals_a[0], max(lo + 5.0, decline * vals_a[0])])
            if np.isnan(d):
                vals_a[1] = vals_a[0]
        mean = np.interp(days, days_a, vals_a)
        z = np.empty(len(days))
        z[0] = rng.normal(0.0, sd)
        for t in range(1, len(days)):
            z[t] = phi * z[t - 1] + np.sqrt(1 - phi**2) * rng.normal(0.0, sd)
        z -= np.interp(days, days_a, z[np.searchsorted(days, days_a)])  # bridge: zero at anchors
        v = mean + z
        inner = ~np.isin(days, g["day"].to_numpy(int))
        v[inner] = np.clip(v[inner], lo, hi)
        v[~inner] = g.set_index("day").loc[days[~inner], "value"].to_numpy(float)
        out.append(pd.DataFrame({"patient_id": pid, "day": days, "value": np.round(v, decimals)}))
    return pd.concat(out, ignore_index=True)
