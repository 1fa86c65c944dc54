"""Build a pseudo-patient fixture from its targets file: draw, calibrate, extend, verify, write.

Stages (each optional, each configured by its table of the targets file, each
from its own random stream of ``numpy.random.SeedSequence(seed)``):

1. patients and covariates; with ``[generator.baseline]`` also the calibrated
   outcome (stream 0: patients and anchors, one child per attempt; stream 1:
   the days between anchors); without it, the patients only (stream 0);
2. ``[generator.values.*]`` in file order (streams 4, 5, ...);
3. ``[extension]`` (stream 2);
4. ``[generator.paths.*]`` in file order (the streams after the values');
5. ``[biomarkers]`` (stream 3).

A later stage never changes what an earlier one produced. Every target is
then evaluated on the files as written.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from longmod.reconstruct.calibrate import CalibrationError, FastModel, calibrate_anchors
from longmod.reconstruct.evaluate import evaluate_targets, set_frames, target_value, treatment_of
from longmod.reconstruct.generator import draw_patient_table, draw_patients, event_columns, fill_trajectories
from longmod.reconstruct.report import write_calibration
from longmod.reconstruct.tables import MEASUREMENT_COLUMNS, Tables, read_doc, read_tables
from longmod.reconstruct.targets import Target, TargetSpec, load_targets

#: Files a build writes (besides copying trial.toml and targets.toml to a new folder).
OUTPUT_FILES = ("patients.csv", "measurements.csv", "CALIBRATION.md")


@dataclass(frozen=True)
class BuildResult:
    """What a build produced.

    Attributes
    ----------
    folder : pathlib.Path or None
        Where the files were written.
    trial : Tables
        The tables as read back from the written files.
    report : pandas.DataFrame
        Every target, published vs achieved (:func:`evaluate_targets`).
    seed : int
    attempts : int
        Draws needed until every hard target of the calibrated outcome was met.
    candidates : pandas.DataFrame
        Candidate tests for printed P values (:func:`~longmod.reconstruct.candidates.candidate_table`).
    """

    folder: Path | None
    trial: Tables
    report: pd.DataFrame
    seed: int
    attempts: int
    candidates: pd.DataFrame | None = None


def _aims(spec: TargetSpec) -> list[Target]:
    cal = dict(spec.generator.get("calibration", {}))
    return [Target(**{**dict(a), "soft": True, "value": float(a["value"]), "tolerance": float(a["tolerance"])})
            for a in cal.get("aims", ())]


def _streams(spec: TargetSpec, seed: int) -> list[np.random.SeedSequence]:
    n = 4 + len(spec.generator.get("values", {})) + len(spec.generator.get("paths", {}))
    return np.random.SeedSequence(int(seed)).spawn(n)


def _death_column(spec: TargetSpec) -> str | None:
    return event_columns(spec.generator).get("death")


def _measurements(anchors, draw, spec, rng, variable) -> pd.DataFrame:
    traj = dict(spec.generator.get("trajectory", {}))
    daily = fill_trajectories(anchors, draw.patients, draw.last_day, traj, baseline_day=spec.baseline_day,
                              rng=rng, decimals=spec.decimals, death_column=_death_column(spec))
    daily.insert(2, "variable", variable)
    daily["lloq"] = np.nan
    return daily[list(MEASUREMENT_COLUMNS)]


def _patients_table(spec: TargetSpec, pts: pd.DataFrame) -> pd.DataFrame:
    lead = [c for c in spec.patient_columns if c in pts.columns]
    return pts[lead + [c for c in pts.columns if c not in lead]].sort_values("patient_id").reset_index(drop=True)


def _ready(t: Target, frames: dict[str, pd.DataFrame]) -> bool:
    """Whether target ``t`` can be evaluated on these frames (its columns exist)."""
    f = frames[t.set]
    if f.empty:
        return False
    cols = [v.strip() for v in t.variable.split(",")] + [str(v) for k, v in t.options.items() if k in ("sets", "strata")]
    if any(c not in f.columns for c in cols):
        return False
    try:
        if t.where:
            f.eval(t.where)
    except Exception:  # a column of a later stage
        return False
    return True


def stage_targets(spec: TargetSpec, tables: Tables) -> list[Target]:
    """The targets the calibrated outcome stage is responsible for.

    Those on estimand sets, on sets of the calibrated outcome, and on the
    patients table when every column they read already exists.

    Examples
    --------
    >>> from longmod.reconstruct.tables import read_tables
    >>> from longmod.resources import fixtures_dir
    >>> folder = fixtures_dir() / "stroma_cov2"
    >>> spec = load_targets(folder / "targets.toml")
    >>> len(stage_targets(spec, read_tables(folder))) == len(spec.targets)
    True
    """
    frames = set_frames(spec, tables)
    out = []
    for t in spec.targets:
        s = spec.analysis_sets[t.set]
        if s.get("estimand") or s.get("variable") == spec.outcome or ("variable" not in s and _ready(t, frames)):
            out.append(t)
    return out


def reconstruct(spec: TargetSpec, doc, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, int]:
    """Draw and calibrate the outcome until every hard target of this stage holds on the rounded data.

    Parameters
    ----------
    spec : TargetSpec
        With ``[generator.baseline]`` and ``[generator.endpoint]``.
    doc : mapping
        The parsed ``trial.toml`` (arms, schedule, variables).
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
    >>> from longmod.resources import fixtures_dir
    >>> from longmod.reconstruct.tables import read_doc
    >>> from longmod.reconstruct.targets import load_targets
    >>> folder = fixtures_dir() / "stroma_cov2"
    >>> pts, meas, report, attempts = reconstruct(load_targets(folder / "targets.toml"), read_doc(folder), seed=1)
    >>> len(pts), bool(report.loc[~report["soft"], "passed"].all())
    (45, True)
    """
    gen = spec.generator
    cal = dict(gen.get("calibration", {}))
    streams = _streams(spec, seed)
    max_attempts = int(cal.get("max_attempts", 10))
    aims = _aims(spec)
    best = None
    last_error = ""
    for attempt, ss in enumerate(streams[0].spawn(max_attempts), start=1):
        draw = draw_patients(gen, baseline_day=spec.baseline_day, endpoint_day=spec.endpoint_day,
                             rng=np.random.default_rng(ss))
        anchors = draw.anchors
        tpl_meas = _measurements(anchors, draw, spec, np.random.default_rng(0), spec.outcome)
        template = Tables(_patients_table(spec, draw.patients), tpl_meas, doc)
        targets = stage_targets(spec, template)
        model = FastModel(spec, template, anchors, aims, targets=targets)
        try:
            x = calibrate_anchors(model, anchors["value"].to_numpy(), anchors["lower"].to_numpy(),
                                  anchors["upper"].to_numpy(), roles=anchors["role"].to_numpy(), settings=cal)
        except CalibrationError as exc:  # this draw cannot be calibrated: draw again
            last_error = str(exc)
            continue
        calibrated = anchors.assign(value=x)
        meas = _measurements(calibrated, draw, spec, np.random.default_rng(streams[1]), spec.outcome)
        pts = _patients_table(spec, draw.patients)
        stage = dataclasses.replace(spec, targets=tuple(targets))
        report = evaluate_targets(stage, Tables(pts, meas, doc))
        fast = model.values(x, targets, fast=True)
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


def _checker(spec: TargetSpec):
    """``check(tables, ids) -> failing ids``: evaluate a few targets on in-memory tables."""
    by_id = {t.id: t for t in spec.targets}

    def check(tables: Tables, ids) -> list[str]:
        sets = {by_id[i].set for i in ids}
        sub = dataclasses.replace(spec, analysis_sets={k: v for k, v in spec.analysis_sets.items() if k in sets})
        frames = set_frames(sub, tables)
        tr = treatment_of(tables)
        bad = []
        for i in ids:
            t = by_id[i]
            f = frames[t.set]
            wm = f.eval(t.where).to_numpy(bool) if t.where else None
            v = target_value(t, {c: f[c].to_numpy() for c in f.columns}, treatment=tr,
                             set_def=spec.analysis_sets[t.set], where_mask=wm)
            if not abs(v - t.value) <= t.tolerance + 1e-9:
                bad.append(i)
        return bad

    return check


def generate(spec: TargetSpec, doc, seed: int) -> tuple[Tables, int]:
    """Every stage in memory: the fixture's tables and the calibration attempts.

    Examples
    --------
    See :func:`build_fixture`.
    """
    gen = spec.generator
    streams = _streams(spec, seed)
    if "baseline" in gen:
        pts, meas, _, attempts = reconstruct(spec, doc, seed)
    else:
        pts = _patients_table(spec, draw_patient_table(gen, np.random.default_rng(streams[0].spawn(1)[0])))
        meas, attempts = pd.DataFrame(columns=list(MEASUREMENT_COLUMNS)), 1
    tables = Tables(pts, meas, doc)
    values = list(gen.get("values", {}))
    paths = list(gen.get("paths", {}))
    if values:
        from longmod.reconstruct.values import add_values

        check = _checker(spec)
        for k, name in enumerate(values):
            tables, _ = add_values(spec, name, tables, np.random.default_rng(streams[4 + k]), check)
    if spec.extension:
        from longmod.reconstruct.extension import extend

        tables = extend(spec, tables, np.random.default_rng(streams[2]))
    for k, name in enumerate(paths):
        from longmod.reconstruct.paths import add_path

        tables = add_path(spec, name, tables, np.random.default_rng(streams[4 + len(values) + k]))
    if spec.biomarkers:
        from longmod.reconstruct.biomarkers import add_biomarkers

        meas = add_biomarkers(spec, tables.patients, tables.measurements, np.random.default_rng(streams[3]))
        tables = Tables(tables.patients, meas, doc)
    return Tables(_patients_table(spec, tables.patients), tables.measurements, doc), attempts


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False, lineterminator="\n", na_rep="")


def _format_patients(spec: TargetSpec, pts: pd.DataFrame) -> pd.DataFrame:
    """Day columns (events, integer values) as nullable integers: ``12`` rather than ``12.0``."""
    out = pts.copy()
    days = set(event_columns(spec.generator).values()) | set(spec.end_columns)
    days |= {str(b.get("column", n)) for n, b in dict(spec.generator.get("values", {})).items() if "variable" not in b}
    days |= {c["column"] for p in dict(spec.generator.get("paths", {})).values() for c in p["chain"] if c.get("keep")}
    for ext in ("deaths", "discharge"):
        if ext in spec.extension:
            days.add(str(spec.extension[ext]["column"]))
    for c in sorted(days & set(out.columns)):
        v = pd.to_numeric(out[c])
        if (v.dropna() == v.dropna().round()).all():
            out[c] = v.astype("Int64")
    return out


def _format_measurements(spec: TargetSpec, meas: pd.DataFrame) -> pd.DataFrame:
    out = meas.copy()
    if spec.sort_measurements:
        out = out.sort_values(["patient_id", "variable", "day"], kind="stable").reset_index(drop=True)
    out["day"] = out["day"].astype(int)
    out["lloq"] = out["lloq"].astype(float)
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
    >>> res = build_fixture("gregoire_2022", out=tempfile.mkdtemp())
    >>> bool(res.report.loc[~res.report["soft"], "passed"].all()), res.trial.synthetic
    (True, True)
    """
    folder = Path(name_or_folder)
    if not folder.is_dir():
        from longmod.resources import fixtures_dir

        folder = fixtures_dir() / str(name_or_folder)
    spec = load_targets(folder / "targets.toml")
    doc = read_doc(folder)
    seed = int(spec.generator.get("seed", 0) if seed is None else seed)
    tables, attempts = generate(spec, doc, seed)
    dest = Path(out) if out is not None else folder
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        tmp = Path(tmp)
        _write_csv(_format_patients(spec, tables.patients), tmp / "patients.csv")
        _write_csv(_format_measurements(spec, tables.measurements), tmp / "measurements.csv")
        for f in ("trial.toml", "targets.toml"):
            shutil.copyfile(folder / f, tmp / f)
        written = read_tables(tmp)
        final, candidates = verify(spec, written)
        if not final.loc[~final["soft"], "passed"].all():
            raise CalibrationError("the written files do not meet the targets (rounding?)\n" + final.to_string())
        write_calibration(tmp / "CALIBRATION.md", spec, final, seed=seed, attempts=attempts, trial=written,
                          candidates=candidates)
        names = list(OUTPUT_FILES) + ([] if dest.resolve() == folder.resolve() else ["trial.toml", "targets.toml"])
        for f in names:
            (tmp / f).replace(dest / f)
    return BuildResult(dest, read_tables(dest), final, seed, attempts, candidates)


def verify(spec: TargetSpec, tables) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Every target, extension and biomarker check and generator aim, and the candidate tests, on ``tables``.

    Examples
    --------
    >>> from longmod.reconstruct.tables import read_tables
    >>> from longmod.resources import fixtures_dir
    >>> folder = fixtures_dir() / "gregoire_2022"
    >>> report, cands = verify(load_targets(folder / "targets.toml"), read_tables(folder))
    >>> bool(report.loc[~report["soft"], "passed"].all()), len(cands)
    (True, 35)
    """
    final = evaluate_targets(spec, tables)
    if spec.extension:
        from longmod.reconstruct.extension import extension_report

        ext = extension_report(spec, tables)
        if len(ext):
            final = pd.concat([final, ext], ignore_index=True)
    if spec.biomarkers:
        from longmod.reconstruct.biomarkers import biomarker_report

        final = pd.concat([final, biomarker_report(spec, tables)], ignore_index=True)
    if _aims(spec):  # the generator's calibration aims, reported with the soft targets
        final = pd.concat([final, evaluate_targets(dataclasses.replace(spec, targets=tuple(_aims(spec))), tables)],
                          ignore_index=True)
    candidates = None
    if spec.candidates:
        from longmod.reconstruct.candidates import candidate_table

        candidates = candidate_table(spec, tables)
    return final, candidates
