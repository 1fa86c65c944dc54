"""Pseudo-patient data reconstructed from published summaries (targets -> data).

A targets file lists every published summary to reproduce (statistic, analysis
set, arm, published value, tolerance, quote key), the printed P values whose
test is not named (``[[candidates]]``) and, under ``[generator]``, every
assumption for what the paper does not report. :func:`build_fixture` draws
patients from that seeded parametric model in stages (a calibrated outcome,
patient-level values with exact quantiles or counts, follow-up, ordinal daily
states, biomarkers), checks every target with longmod's own rules, and writes
``patients.csv``, ``measurements.csv`` and ``CALIBRATION.md``. Nothing in the
code is specific to a trial. The output is always labelled SYNTHETIC.

Command line: ``python -m longmod.reconstruct NAME [--seed N] [--out DIR]``.

Examples
--------
>>> from longmod.reconstruct import load_targets
>>> from longmod.resources import fixtures_dir
>>> spec = load_targets(fixtures_dir() / "stroma_cov2" / "targets.toml")
>>> spec.target("ancova_estimate").value
7.4
"""

from longmod.reconstruct.build import BuildResult, build_fixture, generate, reconstruct, verify
from longmod.reconstruct.calibrate import CalibrationError
from longmod.reconstruct.candidates import candidate_table
from longmod.reconstruct.evaluate import REPORT_COLUMNS, evaluate_targets, set_frames
from longmod.reconstruct.generator import GeneratorError
from longmod.reconstruct.stats import STATISTICS, quantile_type7
from longmod.reconstruct.tables import Tables, read_tables
from longmod.reconstruct.targets import Target, TargetsError, TargetSpec, load_targets, parse_targets

__all__ = [
    "REPORT_COLUMNS", "STATISTICS", "BuildResult", "CalibrationError", "GeneratorError", "Tables", "Target",
    "TargetSpec", "TargetsError", "build_fixture", "candidate_table", "evaluate_targets", "generate",
    "load_targets", "parse_targets", "quantile_type7", "read_tables", "reconstruct", "set_frames", "verify",
]
