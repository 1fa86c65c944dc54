"""Seeded calibration: move patient-level anchors until every target is met.

The analysis sets' structure (who is observed, who is imputed and by which
rule) is read once from :func:`longmod.estimands.apply_estimand` (or the
observed values, for sets declared by ``variable`` and ``day``) on a template
of the draw; every analysed value is then a simple function of the anchors
(baseline, endpoint value, last observed value), so the targets can be
evaluated quickly inside :func:`scipy.optimize.least_squares`. The optimiser
minimises the tolerance-scaled target deviations plus a small ridge pull
towards the drawn values (keeping the data close to the generative model).
Final pass/fail is always decided by :func:`longmod.reconstruct.evaluate.evaluate_targets`
on the rounded, written data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from longmod.reconstruct.evaluate import set_frames, target_value, treatment_of
from longmod.reconstruct.stats import STRUCTURAL, VERIFY_ONLY
from longmod.reconstruct.tables import Tables
from longmod.reconstruct.targets import Target, TargetSpec

#: Kinds left out of the objective (step functions of ranks or counts; reported only).
NON_SMOOTH = VERIFY_ONLY


class CalibrationError(RuntimeError):
    """The targets could not all be met; the message lists the failing ones."""


@dataclass
class _SetMap:
    fixed: dict[str, np.ndarray]
    base_idx: np.ndarray
    val_idx: np.ndarray  # anchor index, -1 for a constant
    val_const: np.ndarray
    mult: np.ndarray  # value = mult * anchor + add_base * baseline + const
    add_base: np.ndarray


def _strategy_for(est, event: str, source: str):
    if source == "observed":
        return None
    if event == "death":
        return est.death
    if event == "discharge":
        return est.discharge
    return est.other_missing


class FastModel:
    """Targets as functions of the anchor vector, for the optimiser.

    Parameters
    ----------
    spec : TargetSpec
    template : Tables
        The draw's tables (events, measured days); only the anchor values
        change during calibration.
    anchors : pandas.DataFrame
        ``patient_id``, ``day``, ``value``: the latent values, in vector order.
    aims : sequence of Target
        Extra soft aims (generator assumptions such as a correlation).
    targets : sequence of Target, optional
        The targets this stage calibrates (default: all of ``spec``).

    Examples
    --------
    See :func:`calibrate_anchors`.
    """

    def __init__(self, spec: TargetSpec, template: Tables, anchors: pd.DataFrame, aims: Sequence[Target] = (),
                 targets: Sequence[Target] | None = None):
        self.spec = spec
        self.targets = tuple(spec.targets if targets is None else targets)
        self.treatment = treatment_of(template)
        key = {(p, int(d)): i for i, (p, d) in enumerate(zip(anchors["patient_id"], anchors["day"]))}
        frames = set_frames(spec, template)
        self.maps: dict[str, _SetMap] = {}
        for name, s in spec.analysis_sets.items():
            f = frames[name]
            fixed = {c: f[c].to_numpy() for c in f.columns if c not in ("baseline", "value", "change")}
            fixed[self.treatment.variable] = fixed[self.treatment.variable].astype(str)
            est_name = s.get("estimand", "")
            if not est_name and "variable" not in s:
                self.maps[name] = _SetMap(fixed, np.zeros(0, int), np.zeros(0, int), np.zeros(0), np.zeros(0), np.zeros(0))
                continue
            if est_name:
                est = spec.estimands[est_name]
                base_day, day = (spec.baseline_day if est.baseline_day is None else est.baseline_day), est.day
            else:  # observed values of a variable: calibrated only if it is the calibrated outcome
                est = None
                base_day, day = int(s.get("baseline_day", spec.baseline_day)), int(s["day"])
                if str(s["variable"]) != spec.outcome:
                    self.maps[name] = _SetMap(fixed, np.zeros(0, int), np.zeros(0, int), np.zeros(0), np.zeros(0), np.zeros(0))
                    continue
            m = len(f)
            base_idx = np.empty(m, int)
            val_idx = np.full(m, -1)
            const, mult, addb = np.zeros(m), np.zeros(m), np.zeros(m)
            for r, row in enumerate(f.itertuples(index=False)):
                pid = row.patient_id
                base_idx[r] = self._anchor(key, pid, base_day, name)
                s_ = None if est is None else _strategy_for(est, row.event, row.source)
                if s_ is None:
                    val_idx[r], mult[r] = self._anchor(key, pid, day, name), 1.0
                elif s_.name == "composite":
                    const[r] = float(s_.value)
                elif s_.name in ("locf", "locf_multiplier", "locf_plus_baseline_fraction"):
                    val_idx[r] = self._anchor(key, pid, int(row.last_observed_day), name)
                    mult[r] = float(s_.factor) if s_.name == "locf_multiplier" else 1.0
                    addb[r] = float(s_.factor) if s_.name == "locf_plus_baseline_fraction" else 0.0
                else:
                    const[r] = np.nan
            self.maps[name] = _SetMap(fixed, base_idx, val_idx, const, mult, addb)
        self.where = {t.id: (frames[t.set].eval(t.where).to_numpy(bool) if t.where else None)
                      for t in [*self.targets, *aims]}
        self.active = [t for t in [*self.targets, *aims]
                       if t.weight > 0 and t.kind not in STRUCTURAL and t.kind not in NON_SMOOTH]

    @staticmethod
    def _anchor(key, pid, day, set_name) -> int:
        if (pid, int(day)) not in key:
            raise CalibrationError(
                f"analysis set {set_name!r} reads patient {pid!r} on day {day}, which is not a calibrated anchor; "
                "the generator's anchors must cover every value the estimands read"
            )
        return key[(pid, int(day))]

    def _rows(self, t: Target) -> np.ndarray:
        cols = self.maps[t.set].fixed
        arm = cols[self.treatment.variable]
        mask = np.ones(len(arm), bool) if t.arm == "all" else (arm == t.arm)
        if self.where[t.id] is not None:
            mask &= self.where[t.id]
        return np.flatnonzero(mask)

    def columns(self, x: np.ndarray, name: str) -> dict[str, np.ndarray]:
        """Columns of analysis set ``name`` for anchor values ``x``."""
        m = self.maps[name]
        cols = dict(m.fixed)
        if len(m.base_idx):
            base = x[..., m.base_idx]
            anch = np.where(m.val_idx >= 0, x[..., np.maximum(m.val_idx, 0)], 0.0)
            val = np.where(m.val_idx >= 0, m.mult * anch + m.add_base * base, m.val_const)
            cols.update(baseline=base, value=val, change=val - base)
        return cols

    def values(self, x: np.ndarray, targets: Sequence[Target] | None = None, fast: bool = True) -> np.ndarray:
        """Target values for anchors ``x`` (default: the optimised targets).

        ``x`` may be a batch (rows = anchor vectors); the result is then
        ``(batch, n_targets)``.
        """
        targets = self.active if targets is None else targets
        x = np.asarray(x, float)
        caches: dict[str, dict] = {}
        colcache: dict[str, dict] = {}
        out = np.empty((*x.shape[:-1], len(targets)))
        for i, t in enumerate(targets):
            if t.set not in colcache:
                colcache[t.set] = self.columns(x, t.set)
            out[..., i] = target_value(t, colcache[t.set], treatment=self.treatment,
                                       set_def=self.spec.analysis_sets[t.set], where_mask=self.where[t.id],
                                       fast=fast, cache=caches.setdefault(t.set, {}))
        return out


class _Done(Exception):
    def __init__(self, x):
        self.x = x


def quantile_slots(model: FastModel, x: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                   margin: float = 0.2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Quantile-matched bounds: fix the order statistics, box the other values between them.

    For each (set, arm, variable) with quantile/median targets, the patients
    are assigned to ranks (values computed from fixed quantities keep the rank
    their value gives; adjustable ones fill the other ranks in their current
    order). The patients at the order statistics R type 7 reads get the
    published quantile exactly (two neighbours 1 unit apart when it
    interpolates); the others are bounded between the neighbouring published
    quantiles. Bounds on ``change`` translate into bounds on the anchor the
    value is computed from, with the baseline held fixed.

    Returns
    -------
    tuple of numpy.ndarray
        ``(x, lower, upper)``: start vector and bounds (new arrays); a fixed
        anchor has ``lower == upper``.
    """
    x, lower, upper = np.array(x, float), np.array(lower, float), np.array(upper, float)
    groups: dict[tuple, list[Target]] = {}
    for t in model.active:
        if t.kind in ("median", "quantile") and t.variable in ("value", "change"):
            groups.setdefault((t.set, t.arm, t.variable, t.where), []).append(t)
    for (set_name, _, variable, _), ts in groups.items():
        m = model.maps[set_name]
        rows = model._rows(ts[0])
        n = len(rows)
        cols = model.columns(x, set_name)
        cur, base = cols[variable][rows], cols["baseline"][rows]
        # published order statistics: rank -> value
        fixed_rank: dict[int, float] = {}
        for t in sorted(ts, key=lambda t: 0.5 if t.kind == "median" else float(t.q)):
            h = (n - 1) * (0.5 if t.kind == "median" else float(t.q))
            lo = int(np.floor(h))
            frac = h - lo
            if frac == 0:
                fixed_rank[lo] = t.value
            else:
                fixed_rank[lo], fixed_rank[lo + 1] = t.value - frac, t.value + (1 - frac)
        adjustable = np.array([m.val_idx[r] >= 0 and m.mult[r] > 0 for r in rows])
        pinned = sorted(fixed_rank)
        edges = [-np.inf, *[fixed_rank[k] for k in pinned], np.inf]
        # slots: ranks between pinned ones form intervals
        intervals = [(pinned[j - 1] + 1 if j else 0, pinned[j] if j < len(pinned) else n) for j in range(len(pinned) + 1)]
        capacity = [hi - lo for lo, hi in intervals]
        for i in np.flatnonzero(~adjustable):
            j = int(np.searchsorted(edges[1:-1], cur[i]))
            capacity[j] -= 1
            if capacity[j] < 0:
                raise CalibrationError(f"{ts[0].id}: too many non-adjustable values between the same quantiles")
        slots: list[tuple[float, float]] = []
        for j in range(len(pinned) + 1):
            slots += [(edges[j] + margin, edges[j + 1] - margin)] * capacity[j]
            if j < len(pinned):
                slots.append((fixed_rank[pinned[j]], fixed_rank[pinned[j]]))
        adj_rows = [i for i in np.argsort(cur, kind="stable") if adjustable[i]]
        for i, (c_lo, c_hi) in zip(adj_rows, slots):
            r = rows[i]
            k = m.val_idx[r]
            b = base[i]
            off = b if variable == "change" else 0.0
            a_lo = (c_lo + off - m.add_base[r] * b) / m.mult[r]
            a_hi = (c_hi + off - m.add_base[r] * b) / m.mult[r]
            lo_k, hi_k = max(lower[k], a_lo), min(upper[k], a_hi)
            if lo_k > hi_k:
                raise CalibrationError(f"{ts[0].id}: a value cannot reach its quantile slot within the anchor bounds")
            lower[k], upper[k] = lo_k, hi_k
            x[k] = np.clip(x[k], lo_k, hi_k)
    return x, lower, upper


def _least_squares(model, x, lower, upper, free, targets, x0, s):
    """Optimise the ``free`` anchors for ``targets`` (the others held fixed)."""
    lam = float(s.get("regularisation", 0.02))
    scale = float(s.get("scale", 30.0))
    stop = float(s.get("stop", 0.25))
    if not targets or not free.any():
        return x
    tgt = np.array([t.value for t in targets])
    tol = np.array([max(t.tolerance, 1e-3) for t in targets])
    w = np.array([t.weight for t in targets])
    hard = np.array([not t.soft for t in targets])
    h = 1e-4 * scale

    def full(z):
        out = np.array(np.broadcast_to(x, (*np.shape(z)[:-1], len(x))))
        out[..., free] = z
        return out

    def resid(z):
        r = w * (model.values(full(z), targets) - tgt) / tol
        r = np.where(np.isfinite(r), r, 1e3)
        return np.concatenate([r, lam * (z - x0[free]) / scale], axis=-1)

    def fun(z):
        r = resid(z)
        if np.all(np.abs(r[: len(tgt)][hard]) <= stop * w[hard]):
            raise _Done(z.copy())
        return r

    lo, hi = lower[free], upper[free]

    def jac(z):
        step = np.where(z + h <= hi, h, -h)
        return (resid(z[None, :] + np.diag(step)) - resid(z)[None, :]).T / step[None, :]

    z = np.clip(x[free], lo, hi)
    try:
        z = least_squares(fun, z, jac=jac, bounds=(lo, hi), method="trf", x_scale=scale,
                          max_nfev=int(s.get("max_nfev", 200))).x
    except _Done as done:
        z = done.x
    return full(z)


def calibrate_anchors(
    model: FastModel, x0: np.ndarray, lower: np.ndarray, upper: np.ndarray, *, roles: np.ndarray,
    settings: Mapping | None = None,
) -> np.ndarray:
    """Calibrate the anchor vector in two smooth, box-bounded stages.

    1. All anchors, for every target except quantiles/medians (smooth:
       means, SDs, ANCOVA, aims), to twice the final accuracy (a start).
    2. With baselines fixed: quantile-matched bounds (:func:`quantile_slots`)
       make every quantile/median target exact, and the other anchors are
       optimised for the remaining targets (means, SDs, ANCOVA, aims).

    Each stage minimises ``sum_k (w_k (stat_k - published_k) / tol_k)^2 +
    lam^2 sum_i ((x_i - x0_i) / scale)^2`` with :func:`scipy.optimize.least_squares`
    (Jacobian by finite differences evaluated as one batch) and stops once
    every hard target is within ``stop`` x its tolerance. The result is
    rounded to the fixture's decimals (the written values are the evaluated ones).

    Parameters
    ----------
    model : FastModel
    x0, lower, upper : numpy.ndarray
        Drawn anchors and their bounds (not modified).
    roles : numpy.ndarray of str
        ``baseline``/``endpoint``/``last`` per anchor.
    settings : mapping, optional
        ``regularisation`` (lam, default 0.02), ``scale`` (default 30),
        ``max_nfev`` (default 200), ``stop`` (default 0.25).

    Returns
    -------
    numpy.ndarray
        Calibrated, rounded anchors.

    Examples
    --------
    See :func:`longmod.reconstruct.build_fixture`, which draws, calibrates and
    verifies.
    """
    s = dict(settings or {})
    x0 = np.clip(np.asarray(x0, float), lower, upper)
    is_base = np.asarray(roles) == "baseline"
    quant = {"median", "quantile"}
    smooth = [t for t in model.active if t.kind not in quant]
    s1 = {**s, "stop": 2 * float(s.get("stop", 0.25)), "max_nfev": int(s.get("max_nfev", 200)) // 2}
    x = _least_squares(model, x0.copy(), lower, upper, np.ones(len(x0), bool), smooth, x0, s1)
    x, lo2, hi2 = quantile_slots(model, x, lower, upper)
    stage2 = [t for t in smooth if t.variable != "baseline"]
    free = ~is_base & (hi2 > lo2)
    x = _least_squares(model, x, lo2, hi2, free, stage2, x, s)
    dec = int(model.spec.decimals)
    return np.clip(np.round(x, dec), np.round(lo2, dec), np.round(hi2, dec))
