"""Seeded simulator of the joint longitudinal-survival model (the model's own data-generating process).

Used to validate :func:`longmod.engines.joint.fit.fit_joint_model` (recovery,
interval coverage and simulation-based calibration; ``benchmarks/joint_model_study.py``)
since no reference implementation of the model is installed. Event times are
drawn exactly: each cause's latent time inverts its cumulative hazard, which
is closed-form on every piece of the baseline (the trajectory is linear in
time); the observed time is the first latent time or follow-up, whichever
comes first. Data are SYNTHETIC.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from longmod.engines.joint.data import Scaling


@dataclass(frozen=True)
class JointTruth:
    """True parameters on the data's scale (defaults: PaO2/FiO2-like values in mmHg, days).

    The defaults give, with 22 patients per arm and follow-up to day 28,
    about 8 deaths, 23 ICU discharges and 13 censored patients per trial
    (STROMA-CoV-2's reconstruction: 8, 25, 12 of 45).

    ``hazards`` maps each cause to its baseline hazards per day on the pieces
    ``[cuts[j], cuts[j+1])`` (for a patient whose current value equals
    ``y_ref``, reference arm); ``log_hr``, ``assoc`` (log HR per outcome unit
    of the current value) and ``assoc_slope`` (per outcome unit per day of
    slope) map causes to numbers.

    Examples
    --------
    >>> t = JointTruth()
    >>> t.intercept, sorted(t.hazards) == sorted(t.log_hr)
    (175.0, True)
    """

    intercept: float = 175.0
    slope: float = 4.0
    arm: float = 0.0
    arm_slope: float = 1.5
    re_sd_intercept: float = 55.0
    re_sd_slope: float = 3.0
    re_corr: float = -0.2
    sigma: float = 35.0
    y_ref: float = 175.0
    cuts: tuple[float, ...] = (0.0, 7.0, 14.0)
    hazards: Mapping[str, tuple[float, ...]] = field(default_factory=lambda: {
        "death": (0.012, 0.016, 0.020), "discharge": (0.008, 0.018, 0.016)})
    log_hr: Mapping[str, float] = field(default_factory=lambda: {"death": -0.3, "discharge": 0.2})
    assoc: Mapping[str, float] = field(default_factory=lambda: {"death": -0.012, "discharge": 0.008})
    assoc_slope: Mapping[str, float] = field(default_factory=lambda: {"death": 0.0, "discharge": 0.0})

    def replace(self, **changes: Any) -> "JointTruth":
        """A copy with some fields changed."""
        return replace(self, **changes)


SCHEDULE: tuple[float, ...] = (0, 1, 2, 3, 4, 5, 6, 7, 14, 21, 28)


def _latent_time(rng: np.random.Generator, cuts: np.ndarray, h0: np.ndarray, lin: float, rho: float) -> float:
    """Invert ``H(t) = sum_j h0_j exp(lin) int exp(rho u) du`` at an Exp(1) draw (inf if never reached)."""
    remaining = rng.exponential()
    hi = np.append(cuts[1:], np.inf)
    for lo_j, hi_j, h in zip(cuts, hi, h0):
        a = h * np.exp(lin)
        if rho == 0.0:
            piece = a * (hi_j - lo_j)
            if remaining <= piece:
                return float(lo_j + remaining / a)
        else:
            e_lo = np.exp(rho * lo_j)
            piece = a * (np.exp(rho * hi_j) - e_lo) / rho if np.isfinite(hi_j) else (
                np.inf if rho > 0 else a * e_lo / -rho)
            if remaining <= piece:
                return float(np.log(e_lo + rho * remaining / a) / rho)
        remaining -= piece
    return float("inf")


def simulate_joint(truth: JointTruth | None = None, *, n_per_arm: int = 22, seed: int = 0,
                   schedule: tuple[float, ...] = SCHEDULE, followup: float = 28.0,
                   arms: tuple[str, str] = ("active", "control")) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate one two-arm trial from the joint model.

    Parameters
    ----------
    truth : JointTruth, optional
        True parameters (default :class:`JointTruth`).
    n_per_arm : int
        Patients per arm.
    seed : int
        Seed of ``numpy.random.default_rng``; same seed, same bytes.
    schedule : tuple of float
        Measurement days; a patient is measured on every scheduled day up to
        and including the observed event/censoring time.
    followup : float
        Administrative censoring day.
    arms : (str, str)
        Labels of the active and the reference arm.

    Returns
    -------
    (measurements, patients)
        ``measurements``: ``patient_id``, ``day``, ``value``; ``patients``:
        ``patient_id``, ``arm``, ``event_day``, ``event`` (a cause of
        ``truth.hazards`` or ``None`` = censored).

    Examples
    --------
    >>> m, p = simulate_joint(n_per_arm=10, seed=3)
    >>> len(p), sorted(p.event.dropna().unique())
    (20, ['death', 'discharge'])
    >>> bool((m.merge(p, on="patient_id").eval("day <= event_day")).all())
    True
    """
    t = truth or JointTruth()
    rng = np.random.default_rng(seed)
    n = 2 * n_per_arm
    x = np.repeat([1.0, 0.0], n_per_arm)
    sd = np.array([t.re_sd_intercept, t.re_sd_slope])
    G = np.outer(sd, sd) * np.array([[1.0, t.re_corr], [t.re_corr, 1.0]])
    b = rng.multivariate_normal(np.zeros(2), G, size=n)
    a_i = t.intercept + t.arm * x + b[:, 0]
    s_i = t.slope + t.arm_slope * x + b[:, 1]
    cuts = np.asarray(t.cuts, dtype=float)
    causes = list(t.hazards)
    latent = np.empty((n, len(causes)))
    for i in range(n):
        for k, c in enumerate(causes):
            lin = t.log_hr[c] * x[i] + t.assoc[c] * (a_i[i] - t.y_ref) + t.assoc_slope.get(c, 0.0) * s_i[i]
            latent[i, k] = _latent_time(rng, cuts, np.asarray(t.hazards[c], float), lin, t.assoc[c] * s_i[i])
    first = latent.min(axis=1)
    which = latent.argmin(axis=1)
    observed = np.minimum(first, followup)
    event = [causes[which[i]] if first[i] <= followup else None for i in range(n)]
    ids = [f"P{i + 1:03d}" for i in range(n)]
    rows = []
    for i in range(n):
        for d in schedule:
            if d <= observed[i]:
                rows.append((ids[i], float(d), float(a_i[i] + s_i[i] * d + rng.normal(0.0, t.sigma))))
    meas = pd.DataFrame(rows, columns=["patient_id", "day", "value"])
    pats = pd.DataFrame({"patient_id": ids, "arm": np.where(x == 1, arms[0], arms[1]), "event_day": observed,
                         "event": pd.Series(event, dtype=object)})
    return meas, pats


def truth_from_internal(theta: Mapping[str, Any], scaling: Scaling, causes: tuple[str, ...],
                        cuts_days: tuple[float, ...]) -> JointTruth:
    """Convert parameters on the model's standardised scale to a :class:`JointTruth` (``y_ref = y_center``).

    ``theta``: ``beta`` (4), ``re_sd`` (2), ``re_corr``, ``sigma`` and per
    cause position ``k``: ``log_base_k`` (pieces), ``log_hr_k``, ``assoc_k``.

    Examples
    --------
    >>> th = {"beta": [0, 0.5, 0, 0.2], "re_sd": [1, 0.5], "re_corr": 0.0, "sigma": 0.5,
    ...       "log_base_0": [-1.0], "log_hr_0": -0.2, "assoc_0": -0.5}
    >>> t = truth_from_internal(th, Scaling(175.0, 70.0, 28.0), ("death",), (0.0,))
    >>> round(t.arm_slope, 3), round(t.assoc["death"], 5), round(t.hazards["death"][0], 5)
    (0.5, -0.00714, 0.01314)
    """
    yc, ys, ts = scaling.y_center, scaling.y_scale, scaling.time_scale
    beta, sd = np.asarray(theta["beta"], float), np.asarray(theta["re_sd"], float)
    return JointTruth(
        intercept=float(yc + ys * beta[0]), slope=float(ys * beta[1] / ts), arm=float(ys * beta[2]),
        arm_slope=float(ys * beta[3] / ts), re_sd_intercept=float(ys * sd[0]), re_sd_slope=float(ys * sd[1] / ts),
        re_corr=float(theta["re_corr"]),
        sigma=ys * float(theta["sigma"]), y_ref=yc, cuts=tuple(cuts_days),
        hazards={c: tuple(float(h) for h in np.exp(np.asarray(theta[f"log_base_{k}"], float)) / ts)
                 for k, c in enumerate(causes)},
        log_hr={c: float(theta[f"log_hr_{k}"]) for k, c in enumerate(causes)},
        assoc={c: float(theta[f"assoc_{k}"]) / ys for k, c in enumerate(causes)},
        assoc_slope={c: float(theta.get(f"assoc_slope_{k}", 0.0)) * ts / ys for k, c in enumerate(causes)},
    )


def draw_from_prior(rng: np.random.Generator, priors: Mapping[str, float], n_causes: int, n_pieces: int,
                    log_base_center: Mapping[int, float] | float) -> dict[str, Any]:
    """One draw of the model's parameters (standardised scale) from its priors (for SBC).

    The priors are those of :func:`longmod.engines.joint.model.build_joint_model`
    with ``priors`` as scales (value association only, no covariates);
    ``log_base_center`` is the prior centre of the log baseline hazards on
    the model's time scale (one number, or one per cause position).

    Examples
    --------
    >>> from longmod.engines.joint.model import DEFAULT_PRIORS
    >>> th = draw_from_prior(np.random.default_rng(1), DEFAULT_PRIORS, 2, 3, -1.0)
    >>> sorted(th)[:4], th["log_base_1"].shape
    (['assoc_0', 'assoc_1', 'beta', 'log_base_0'], (3,))
    """
    pr = priors
    eta = pr["re_corr_eta"]
    th: dict[str, Any] = {
        "beta": rng.normal(0.0, [pr["intercept"], pr["slope"], pr["arm"], pr["arm_slope"]]),
        "re_sd": np.abs(rng.normal(0.0, pr["re_sd"], 2)),
        "re_corr": 2.0 * rng.beta(eta, eta) - 1.0,
        "sigma": abs(rng.normal(0.0, pr["sigma"])),
    }
    for k in range(n_causes):
        centre = log_base_center[k] if isinstance(log_base_center, Mapping) else log_base_center
        th[f"log_base_{k}"] = rng.normal(centre, pr["log_baseline"], n_pieces)
        th[f"log_hr_{k}"] = rng.normal(0.0, pr["log_hr"])
        th[f"assoc_{k}"] = rng.normal(0.0, pr["association"])
    return th
