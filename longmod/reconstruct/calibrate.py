"""Seeded calibration: move patient-level anchors until every target is met.

The analysis sets' structure (who is observed, who is imputed and by which
rule) is read once from :func:`longmod.estimands.apply_estimand` on a template
trial; every analysed value is then a simple function of the anchors
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

from longmod.data.trial import TrialData
from longmod.reconstruct.evaluate import set_frames, target_value, treatment_of
from longmod.reconstruct.stats import STRUCTURAL
from longmod.reconstruct.targets import Target, TargetSpec

#: Kinds left out of the objective (step functions of ranks; reported only).
NON_SMOOTH = frozenset({"signed_rank_p", "rank_sum_p"})


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
    template : TrialData
        A trial with the draw's structure (events, measured days); only the
        anchor values change during calibration.
    anchors : pandas.DataFrame
        ``patient_id``, ``day``, ``value``: the latent values, in vector order.
    aims : sequence of Target
        Extra soft aims (generator assumptions such as a correlation).

    Examples
    --------
    See :func:`calibrate_anchors`.
    """

    def __init__(self, spec: TargetSpec, template: TrialData, anchors: pd.DataFrame, aims: Sequence[Target] = ()):
        self.spec = spec
        self.treatment = treatment_of(template)
        key = {(p, int(d)): i for i, (p, d) in enumerate(zip(anchors["patient_id"], anchors["day"]))}
        frames = set_frames(spec, template)
        self.maps: dict[str, _SetMap] = {}
        for name, s in spec.analysis_sets.items():
            f = frames[name]
            fixed = {c: f[c].to_numpy() for c in f.columns if c not in ("baseline", "value", "change")}
            fixed[self.treatment.variable] = fixed[self.treatment.variable].astype(str)
            est_name = s.get("estimand", "")
            if not est_name:
                self.maps[name] = _SetMap(fixed, np.zeros(0, int), np.zeros(0, int), np.zeros(0), np.zeros(0), np.zeros(0))
                continue
            est = spec.estimands[est_name]
            m = len(f)
            base_idx = np.empty(m, int)
            val_idx = np.full(m, -1)
            const, mult, addb = np.zeros(m), np.zeros(m), np.zeros(m)
            for r, row in enumerate(f.itertuples(index=False)):
                pid = row.patient_id
                base_idx[r] = self._anchor(key, pid, est.baseline_day, name)
                s_ = _strategy_for(est, row.event, row.source)
                if s_ is None:
                    val_idx[r], mult[r] = self._anchor(key, pid, est.day, name), 1.0
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
                      for t in [*spec.targets, *aims]}
        self.active = [t for t in [*spec.targets, *aims]
                       if t.weight > 0 and t.kind not in STRUCTURAL and t.kind not in NON_SMOOTH]
        #: quantile targets pinned to order statistics: id -> (row indices in the set, lo, hi, frac)
        self.pins: dict[str, tuple[np.ndarray, int, int, float]] = {}

    def _rows(self, t: Target) -> np.ndarray:
        cols = self.maps[t.set].fixed
        arm = cols[self.treatment.variable]
        mask = np.ones(len(arm), bool) if t.arm == "all" else (arm == t.arm)
        if self.where[t.id] is not None:
            mask &= self.where[t.id]
        return np.flatnonzero(mask)

    def pin(self, x: np.ndarray) -> None:
        """Pin every quantile/median target to the patients at its order statistics for anchors ``x``.

        A pinned quantile is a smooth function of one or two patients' values
        (R type 7: ``a[lo] + frac (a[hi] - a[lo])``), which the optimiser can
        move; :func:`calibrate_anchors` re-pins until the exact quantiles hold.
        """
        self.pins = {}
        for t in self.active:
            if t.kind not in ("median", "quantile"):
                continue
            rows = self._rows(t)
            v = self.columns(np.asarray(x, float), t.set)[t.variable][rows]
            order = rows[np.argsort(v, kind="stable")]
            h = (len(rows) - 1) * (0.5 if t.kind == "median" else float(t.q))
            lo = int(np.floor(h))
            self.pins[t.id] = (order, lo, min(lo + 1, len(rows) - 1), h - lo)

    @staticmethod
    def _anchor(key, pid, day, set_name) -> int:
        if (pid, int(day)) not in key:
            raise CalibrationError(
                f"analysis set {set_name!r} reads patient {pid!r} on day {day}, which is not a calibrated anchor; "
                "the generator's anchors must cover every value the estimands read"
            )
        return key[(pid, int(day))]

    def order_penalty(self, x: np.ndarray, margin: float = 0.2) -> np.ndarray:
        """Hinge residuals keeping each pinned quantile's patients at their ranks."""
        out = []
        for tid, (order, lo, hi, _) in self.pins.items():
            t = next(t for t in self.active if t.id == tid)
            v = self.columns(x, t.set)[t.variable]
            below, above = order[:lo], order[hi + 1 :]
            out.append(np.maximum(0.0, v[..., below] - v[..., order[lo], None] + margin))
            out.append(np.maximum(0.0, v[..., order[hi], None] - v[..., above] + margin))
        if not out:
            return np.zeros((*np.shape(x)[:-1], 0))
        return np.concatenate(out, axis=-1)

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
            if t.id in self.pins and fast:
                order, lo, hi, frac = self.pins[t.id]
                v = colcache[t.set][t.variable]
                out[..., i] = v[..., order[lo]] + frac * (v[..., order[hi]] - v[..., order[lo]])
                continue
            out[..., i] = target_value(t, colcache[t.set], treatment=self.treatment,
                                       set_def=self.spec.analysis_sets[t.set], where_mask=self.where[t.id],
                                       fast=fast, cache=caches.setdefault(t.set, {}))
        return out


class _Done(Exception):
    def __init__(self, x):
        self.x = x


def calibrate_anchors(
    model: FastModel, x0: np.ndarray, lower: np.ndarray, upper: np.ndarray, *, settings: Mapping | None = None,
) -> np.ndarray:
    """Least-squares calibration of the anchor vector.

    Minimises ``sum_k (w_k (stat_k(x) - published_k) / tol_k)^2 +
    lam^2 sum_i ((x_i - x0_i) / scale)^2`` within the bounds (finite-difference
    Jacobian evaluated as one batch), stops as soon as every hard target is
    within ``stop`` x its tolerance, then rounds to the fixture's decimals
    (the written values are the evaluated ones).

    Parameters
    ----------
    model : FastModel
    x0, lower, upper : numpy.ndarray
        Drawn anchors and their bounds (not modified).
    settings : mapping, optional
        ``regularisation`` (lam, default 0.02), ``scale`` (default 30),
        ``max_nfev`` (default 400), ``stop`` (default 0.25).

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
    lam = float(s.get("regularisation", 0.02))
    scale = float(s.get("scale", 30.0))
    stop = float(s.get("stop", 0.25))
    tgt = np.array([t.value for t in model.active])
    tol = np.array([max(t.tolerance, 1e-3) for t in model.active])
    w = np.array([t.weight for t in model.active])
    hard = np.array([not t.soft for t in model.active])
    x0 = np.clip(np.asarray(x0, float), lower, upper)
    h = 1e-4 * scale

    def resid(x):
        r = w * (model.values(x) - tgt) / tol
        r = np.where(np.isfinite(r), r, 1e3)
        return np.concatenate([r, lam * (x - x0) / scale, model.order_penalty(x)], axis=-1)

    def fun(x):
        r = resid(x)
        if np.all(np.abs(r[: len(tgt)][hard]) <= stop * w[hard]) and not np.any(r[len(tgt) + len(x0):] > 0):
            raise _Done(x.copy())
        return r

    def jac(x):
        step = np.where(x + h <= upper, h, -h)
        xs = x[None, :] + np.diag(step)
        return (resid(xs) - resid(x)[None, :]).T / step[None, :]

    x = x0.copy()
    exact_ok = False
    for _ in range(int(s.get("pin_rounds", 6))):
        model.pin(x)
        try:
            res = least_squares(fun, x, jac=jac, bounds=(lower, upper), method="trf", x_scale=scale,
                                max_nfev=int(s.get("max_nfev", 200)))
            x = res.x
        except _Done as done:
            x = done.x
        pins, model.pins = model.pins, {}
        r = w * (model.values(x) - tgt) / tol
        exact_ok = bool(np.all(np.abs(r[hard]) <= stop * 2 * w[hard]))
        if exact_ok:
            break
    dec = int(model.spec.decimals)
    return np.clip(np.round(x, dec), np.round(lower, dec), np.round(upper, dec))
