"""Pseudo-patient data reconstructed from published summaries (targets -> data).

A targets file lists every published summary to reproduce (statistic, analysis
set, arm, published value, tolerance, quote key) and, under ``[generator]``,
every assumption for what the paper does not report. :func:`build_fixture`
draws patients from that seeded parametric model, calibrates patient-level
latent values until every target holds (checked with longmod's own estimand
rules and ANCOVA), and writes ``patients.csv``, ``measurements.csv`` and
``CALIBRATION.md``. The output is always labelled SYNTHETIC.

Command line: ``python -m longmod.reconstruct stroma_cov2 [--seed N] [--out DIR]``.

Examples
--------
>>> from longmod.reconstruct import load_targets
>>> from longmod.resources import fixtures_dir
>>> spec = load_targets(fixtures_dir() / "stroma_cov2" / "targets.toml")
>>> spec.target("ancova_estimate").value
7.4
"""

from longmod.reconstruct.build import BuildResult, build_fixture, reconstruct
from longmod.reconstruct.calibrate import CalibrationError
from longmod.reconstruct.evaluate import REPORT_COLUMNS, evaluate_targets, set_frames
from longmod.reconstruct.generator import GeneratorError
from longmod.reconstruct.stats import STATISTICS, quantile_type7
from longmod.reconstruct.targets import Target, TargetsError, TargetSpec, load_targets, parse_targets

__all__ = [
    "REPORT_COLUMNS", "STATISTICS", "BuildResult", "CalibrationError", "GeneratorError", "Target", "TargetSpec",
    "TargetsError", "build_fixture", "evaluate_targets", "load_targets", "parse_targets", "quantile_type7",
    "reconstruct", "set_frames",
]
