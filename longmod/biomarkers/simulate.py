"""Seeded synthetic biomarker data (development, tests, simulation study).

The generator produces the generic long biomarker frame used by every
function of :mod:`longmod.biomarkers` (see :data:`FRAME_COLUMNS`):

``patient_id, arm, day, marker, value, lloq, censored``

``value`` is on the **raw** (concentration) scale and is NaN when the sample is
below the lower limit of quantification (``censored`` True); ``lloq`` is the
marker's LLOQ on the raw scale. Data-generating model for marker *m*,
patient *i*, day *t* (log10 scale)::

    log10 y = mu_m + trend_m * t / 14 + effect_m(t) * [arm = active]
              + b_im + e_imt,      b_im ~ N(0, sd_between^2), e ~ N(0, sd_within^2)

so the within-patient correlation is ``sd_between^2 / (sd_between^2 +
sd_within^2)`` (compound symmetry). Each marker's LLOQ is put at the quantile
of the day-0 marginal distribution that censors the requested fraction.
Patients may leave the study (death/ICU discharge): no samples after their
last day. These data are SYNTHETIC.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

#: Columns of the generic biomarker frame.
FRAME_COLUMNS: tuple[str, ...] = ("patient_id", "arm", "day", "marker", "value", "lloq", "censored")
#: Arm labels of the simulated data (the simulator's own; analyses of a trial use the trial's arms).
ACTIVE, REFERENCE = "active", "control"
DAYS: tuple[int, ...] = (0, 2, 4, 7, 14)


def marker_names(n: int) -> list[str]:
    """Generic marker names ``M01``, ``M02``, ...

    Examples
    --------
    >>> marker_names(3)
    ['M01', 'M02', 'M03']
    """
    return [f"M{k + 1:02d}" for k in range(n)]


def default_effects(n_markers: int = 48, n_affected: int = 6, size: float = -0.35,
                    days: Sequence[int] = DAYS) -> pd.DataFrame:
    """True treatment effects (log10 scale): late decreases in a few markers.

    The first ``n_affected`` markers decrease by ``size / 2`` at day 7 and by
    ``size`` at day 14 in the active arm (the published pattern: no difference
    except later decreases of some inflammatory markers); all other effects
    are 0.

    Returns
    -------
    pandas.DataFrame
        ``marker``, ``day``, ``effect`` (one row per marker and day).

    Examples
    --------
    >>> e = default_effects(4, n_affected=1)
    >>> e[e.effect != 0].values.tolist()
    [['M01', 7, -0.175], ['M01', 14, -0.35]]
    """
    rows = []
    for k, m in enumerate(marker_names(n_markers)):
        for d in days:
            eff = 0.0
            if k < n_affected:
                eff = size / 2 if d == 7 else size if d == 14 else 0.0
            rows.append((m, int(d), float(eff)))
    return pd.DataFrame(rows, columns=["marker", "day", "effect"])


def simulate_biomarkers(
    n_markers: int = 48,
    *,
    n_active: int = 20,
    n_reference: int = 21,
    days: Sequence[int] = DAYS,
    censor_fractions: Sequence[float] | None = None,
    effects: pd.DataFrame | None = None,
    sd_between: float = 0.3,
    sd_within: float = 0.25,
    dropout: float = 0.15,
    seed: int = 20240607,
    arms: tuple[str, str] = (ACTIVE, REFERENCE),
) -> pd.DataFrame:
    """Simulate log-normal biomarker levels with LLOQ censoring.

    Parameters
    ----------
    n_markers : int
        Number of markers (named by :func:`marker_names`).
    n_active, n_reference : int
        Patients in the active and the reference arm (labels ``arms``).
    days : sequence of int
        Sampling days (day 0 first).
    censor_fractions : sequence of float, optional
        Target censored fraction per marker; default evenly spaced from 0 to
        0.6 (so from no censoring to more than half censored).
    effects : pandas.DataFrame, optional
        ``marker``, ``day``, ``effect`` (log10 scale); default
        :func:`default_effects`. Missing marker/day pairs have no effect.
    sd_between, sd_within : float
        Between-patient and residual SD on the log10 scale.
    arms : (str, str)
        Labels of the active and the reference arm (default
        :data:`ACTIVE`, :data:`REFERENCE`); only the labels change.
    dropout : float
        Probability that a patient leaves (death/discharge) after a uniformly
        chosen post-baseline day; later samples are missing.
    seed : int
        Seed of :func:`numpy.random.default_rng`.

    Returns
    -------
    pandas.DataFrame
        :data:`FRAME_COLUMNS`: ``patient_id`` (str), ``arm`` (``arms[0]`` /
        ``arms[1]``), ``day`` (int), ``marker`` (str), ``value`` (raw scale,
        NaN when censored), ``lloq`` (raw scale), ``censored`` (bool).

    Examples
    --------
    >>> d = simulate_biomarkers(3, censor_fractions=[0.0, 0.3, 0.6], seed=1)
    >>> sorted(d.arm.unique()), d.groupby("marker").censored.mean().round(1).tolist()
    (['active', 'control'], [0.0, 0.4, 0.6])
    """
    rng = np.random.default_rng(seed)
    names = marker_names(n_markers)
    days = [int(d) for d in days]
    if censor_fractions is None:
        censor_fractions = np.linspace(0.0, 0.6, n_markers)
    fr = np.asarray(censor_fractions, float)
    if fr.shape != (n_markers,):
        raise ValueError(f"censor_fractions needs {n_markers} values, got {fr.size}")
    eff = default_effects(n_markers, days=days) if effects is None else effects
    eff_map = {(str(m), int(d)): float(e) for m, d, e in eff[["marker", "day", "effect"]].itertuples(index=False)}
    n = n_active + n_reference
    pid = [f"S{i + 1:03d}" for i in range(n)]
    active, reference = arms
    arm = np.array([active] * n_active + [reference] * n_reference)
    # last sampled day: everyone is sampled at day 0
    last = np.full(n, days[-1])
    leave = rng.random(n) < dropout
    if len(days) > 1:
        last[leave] = rng.choice(days[:-1], size=leave.sum())
    mu = rng.uniform(0.5, 3.0, n_markers)
    trend = rng.normal(0.0, 0.15, n_markers)
    sd_tot = np.hypot(sd_between, sd_within)
    lloq_log = mu + stats.norm.ppf(np.clip(fr, 1e-12, 1 - 1e-12)) * sd_tot
    lloq_log[fr <= 0] = mu[fr <= 0] - 10 * sd_tot  # effectively no censoring
    frames = []
    for k, m in enumerate(names):
        b = rng.normal(0.0, sd_between, n)
        for d in days:
            e = rng.normal(0.0, sd_within, n)
            y = mu[k] + trend[k] * d / 14 + b + e + (arm == active) * eff_map.get((m, d), 0.0)
            keep = d <= last
            cens = y < lloq_log[k]
            frames.append(pd.DataFrame({
                "patient_id": np.asarray(pid)[keep], "arm": arm[keep], "day": d, "marker": m,
                "value": np.where(cens, np.nan, 10.0 ** y)[keep], "lloq": 10.0 ** lloq_log[k],
                "censored": cens[keep],
            }))
    out = pd.concat(frames, ignore_index=True)
    out["day"] = out["day"].astype(int)
    out["censored"] = out["censored"].astype(bool)
    return out[list(FRAME_COLUMNS)]


def to_trial(frame: pd.DataFrame, convention: str = "nan", arms: tuple[str, str] = (ACTIVE, REFERENCE)):
    """Wrap a biomarker frame as a validated :class:`~longmod.data.TrialData`.

    Parameters
    ----------
    frame : pandas.DataFrame
        :data:`FRAME_COLUMNS` (e.g. from :func:`simulate_biomarkers`).
    convention : {"nan", "flag"}
        How censored samples are written in the measurements table:
        ``"nan"`` = empty value with ``lloq`` set; ``"flag"`` = value equal
        to the LLOQ plus a boolean ``censored`` column.
    arms : (str, str)
        The active and the reference arm of the frame.

    Returns
    -------
    TrialData
        Patients (``patient_id``, ``arm``; no covariates, no events) and
        measurements (``variable`` = marker). The input is not modified.

    Examples
    --------
    >>> t = to_trial(simulate_biomarkers(2, censor_fractions=[0.0, 0.5], seed=2))
    >>> t.n_patients, sorted(t.measurements.variable.unique())
    (41, ['M01', 'M02'])
    """
    from longmod.data import TrialMeta, from_frames

    if convention not in ("nan", "flag"):
        raise ValueError(f"convention must be 'nan' or 'flag', got {convention!r}")
    pts = frame[["patient_id", "arm"]].drop_duplicates("patient_id").reset_index(drop=True)
    ms = frame.rename(columns={"marker": "variable"})[["patient_id", "day", "variable", "value", "lloq", "censored"]].copy()
    if convention == "nan":
        ms = ms.drop(columns="censored")
    else:
        ms["value"] = np.where(ms["censored"], ms["lloq"], ms["value"])
    meta = TrialMeta(name="synthetic-biomarkers", arms=tuple(arms), reference_arm=arms[1],
                     schedule=tuple(sorted(frame["day"].unique())), synthetic=True)
    return from_frames(pts, ms, meta)
