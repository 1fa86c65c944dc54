"""Build a pseudo-patient fixture from its targets file: draw, calibrate, verify, write.

Random streams (all from ``numpy.random.SeedSequence(seed)``): stream 0 draws
patients and anchors (one child per attempt), stream 1 the days between
anchors, stream 2 the extension (later days, other variables), stream 3 the
biomarkers. The extension and biomarkers are generated after, and
independently of, the calibrated part, so adding them never changes it.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from longmod.data import from_frames, load_trial
from longmod.data.trial import MEASUREMENT_COLUMNS, TrialData, TrialMeta
from longmod.reconstruct.calibrate import CalibrationError, FastModel, calibrate_anchors
from longmod.reconstruct.evaluate import evaluate_targets
from longmod.reconstruct.generator import draw_patients, fill_trajectories
from longmod.reconstruct.report import write_calibration
from longmod.reconstruct.targets import Target, TargetSpec, load_targets

#: Files a build writes (besides copying trial.toml and targets.toml to a new folder).
OUTPUT_FILES = ("patients.csv", "measurements.csv", "CALIBRATION.md")


@dataclass(frozen=True)
class BuildResult:
    """What a build produced.

    Attributes
    ----------
    folder : pathlib.Path
        Where the files were written (``None`` if not written).
    trial : TrialData
        The data as loaded back from the written files (or validated frames).
    report : pandas.DataFrame
        Every target, published vs achieved (:func:`evaluate_targets`).
    seed : int
    attempts : int
        Draws needed until every hard target was met.
    """

    folder: Path | None
    trial: TrialData
    report: pd.DataFrame
    seed: int
    attempts: int


def _aims(spec: TargetSpec) -> list[Target]:
    cal = dict(spec.generator.get("calibration", {}))
    return [Target(**{**dict(a), "soft": True, "value": float(a["value"]), "tolerance": float(a["tolerance"])})
            for a in cal.get("aims", ())]


def _measurements(anchors, draw, spec, rng, variable) -> pd.DataFrame:
    traj = dict(spec.generator.get("trajectory", {}))
    daily = fill_trajectories(anchors, draw.patients, draw.last_day, traj, baseline_day=spec.baseline_day,
                              rng=rng, decimals=spec.decimals)
    daily.insert(2, "variable", variable)
    daily["lloq"] = np.nan
    return daily[list(MEASUREMENT_COLUMNS)]


def _patients_table(pts: pd.DataFrame, meta: TrialMeta) -> pd.DataFrame:
    # the fixture's column order: ids, arm, strata, event days, doses; then the other covariates as drawn
    order = ["patient_id", "arm", *meta.stratification, *meta.event_columns, "doses_received"]
    first = [c for c in order if c in pts.columns]
    extra = [c for c in pts.columns if c not in first]
    return pts[first + extra].sort_values("patient_id").reset_index(drop=True)


def reconstruct(spec: TargetSpec, meta: TrialMeta, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, int]:
    """Draw and calibrate until every hard target holds on the rounded data.

    Parameters
    ----------
    spec : TargetSpec
    meta : TrialMeta
        The trial's metadata (arms, schedule, variables) for validation.
    seed : int

    Returns
    -------
    tuple
        ``(patients, measurements, report, attempts)``.

    Raises
    ------
    CalibrationError
        If no attempt meets every hard target; lists the failing targets of
        the best attempt.

    Examples
    --------
    >>> import tomllib
    >>> from longmod.data.trial import TrialMeta
    >>> from longmod.resources import fixtures_dir
    >>> from longmod.reconstruct.targets import load_targets
    >>> folder = fixtures_dir() / "stroma_cov2"
    >>> meta = TrialMeta.from_mapping(tomllib.loads((folder / "trial.toml").read_text()))
    >>> pts, meas, report, attempts = reconstruct(load_targets(folder / "targets.toml"), meta, seed=1)
    >>> len(pts), bool(report.loc[~report["soft"], "passed"].all())
    (45, True)
    """
    gen = spec.generator
    cal = dict(gen.get("calibration", {}))
    streams = np.random.SeedSequence(int(seed)).spawn(4)
    max_attempts = int(cal.get("max_attempts", 10))
    aims = _aims(spec)
    best = None
    last_error = ""
    for attempt, ss in enumerate(streams[0].spawn(max_attempts), start=1):
        draw = draw_patients(gen, baseline_day=spec.baseline_day, endpoint_day=spec.endpoint_day,
                             rng=np.random.default_rng(ss))
        anchors = draw.anchors
        tpl_meas = _measurements(anchors, draw, spec, np.random.default_rng(0), spec.outcome)
        template = from_frames(_patients_table(draw.patients, meta), tpl_meas, meta)
        model = FastModel(spec, template, anchors, aims)
        try:
            x = calibrate_anchors(model, anchors["value"].to_numpy(), anchors["lower"].to_numpy(),
                                  anchors["upper"].to_numpy(), roles=anchors["role"].to_numpy(), settings=cal)
        except CalibrationError as exc:  # this draw cannot be calibrated: draw again
            last_error = str(exc)
            continue
        calibrated = anchors.assign(value=x)
        meas = _measurements(calibrated, draw, spec, np.random.default_rng(streams[1]), spec.outcome)
        pts = _patients_table(draw.patients, meta)
        trial = from_frames(pts, meas, meta)
        report = evaluate_targets(spec, trial)
        fast = model.values(x, list(spec.targets), fast=True)
        if not np.allclose(fast, report["achieved"].to_numpy(float), rtol=1e-7, atol=1e-7, equal_nan=True):
            raise CalibrationError("internal: the calibration model disagrees with evaluate_targets on the built data")
        hard = report[~report["soft"]]
        score = float((hard["deviation"].abs() / hard["tolerance"].clip(lower=1e-9)).clip(lower=0).max())
        if best is None or score < best[0]:
            best = (score, report)
        if hard["passed"].all():
            return pts, meas, report, attempt
    if best is None:
        raise CalibrationError(f"{spec.name}: no draw could be calibrated in {max_attempts} attempt(s) (seed {seed}); last error: {last_error}")
    failing = best[1][~best[1]["soft"] & ~best[1]["passed"]]
    lines = [f"  - {r.id} ({r.description}): published {r.published:g}, achieved {r.achieved:.4g}, tolerance {r.tolerance:g}"
             for r in failing.itertuples()]
    raise CalibrationError(
        f"{spec.name}: {len(failing)} target(s) could not be met within tolerance after {max_attempts} attempt(s) "
        f"(seed {seed}); best attempt:\n" + "\n".join(lines)
        + "\nCheck the published values and the [generator] assumptions, or raise max_attempts."
    )


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False, lineterminator="\n", na_rep="")


def _format_patients(pts: pd.DataFrame) -> pd.DataFrame:
    out = pts.copy()
    for c in ("death_day", "icu_discharge_day"):
        out[c] = out[c].astype("Int64")
    return out


def build_fixture(name_or_folder: str | Path, *, seed: int | None = None, out: str | Path | None = None) -> BuildResult:
    """Build a fixture folder from its ``targets.toml`` and ``trial.toml``.

    Parameters
    ----------
    name_or_folder : str or pathlib.Path
        A bundled fixture name (``"stroma_cov2"``) or a folder holding
        ``targets.toml`` and ``trial.toml``.
    seed : int, optional
        Defaults to ``[generator] seed``.
    out : str or pathlib.Path, optional
        Output folder (default: the fixture folder itself). A different folder
        also receives copies of ``trial.toml`` and ``targets.toml`` so it loads
        on its own. Files are written to a temporary folder first and moved in
        only when every hard target is met.

    Returns
    -------
    BuildResult

    Raises
    ------
    CalibrationError
        If a hard target cannot be met (nothing is written).

    Examples
    --------
    >>> import tempfile
    >>> res = build_fixture("stroma_cov2", out=tempfile.mkdtemp())
    >>> bool(res.report.loc[~res.report["soft"], "passed"].all()), res.trial.meta.synthetic
    (True, True)
    """
    folder = Path(name_or_folder)
    if not folder.is_dir():
        from longmod.resources import fixtures_dir

        folder = fixtures_dir() / str(name_or_folder)
    spec = load_targets(folder / "targets.toml")
    with (folder / "trial.toml").open("rb") as fh:
        meta = TrialMeta.from_mapping(tomllib.load(fh))
    seed = int(spec.generator.get("seed", 0) if seed is None else seed)
    pts, meas, report, attempts = reconstruct(spec, meta, seed)
    pts, meas = _extend(spec, meta, pts, meas, seed)
    dest = Path(out) if out is not None else folder
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        tmp = Path(tmp)
        _write_csv(_format_patients(pts), tmp / "patients.csv")
        _write_csv(meas, tmp / "measurements.csv")
        for f in ("trial.toml", "targets.toml"):
            shutil.copyfile(folder / f, tmp / f)
        trial = load_trial(tmp)
        final = evaluate_targets(spec, trial)
        if spec.extension:
            from longmod.reconstruct.extension import extension_report

            final = pd.concat([final, extension_report(spec, trial)], ignore_index=True)
        if spec.biomarkers:
            from longmod.reconstruct.biomarkers import biomarker_report

            final = pd.concat([final, biomarker_report(spec, trial)], ignore_index=True)
        if _aims(spec):  # the generator's calibration aims, reported with the soft targets
            final = pd.concat([final, evaluate_targets(dataclasses.replace(spec, targets=tuple(_aims(spec))), trial)],
                              ignore_index=True)
        if not final.loc[~final["soft"], "passed"].all():
            raise CalibrationError("the written files do not meet the targets (rounding?)\n" + final.to_string())
        write_calibration(tmp / "CALIBRATION.md", spec, final, seed=seed, attempts=attempts, trial=trial)
        names = list(OUTPUT_FILES) + ([] if dest.resolve() == folder.resolve() else ["trial.toml", "targets.toml"])
        for f in names:
            (tmp / f).replace(dest / f)
    return BuildResult(dest, load_trial(dest), final, seed, attempts)


def _extend(spec: TargetSpec, meta: TrialMeta, pts: pd.DataFrame, meas: pd.DataFrame, seed: int):
    """Extension (later days, more variables, biomarkers) from their own streams."""
    streams = np.random.SeedSequence(int(seed)).spawn(4)
    if spec.extension:
        from longmod.reconstruct.extension import extend

        pts, meas = extend(spec, meta, pts, meas, np.random.default_rng(streams[2]))
    if spec.biomarkers:
        from longmod.reconstruct.biomarkers import add_biomarkers

        meas = add_biomarkers(spec, pts, meas, np.random.default_rng(streams[3]))
    return pts, meas
