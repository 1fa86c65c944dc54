"""Reanalysis: everything a run of a plan produced, and writing it to an output folder."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from longmod.data import TrialData
from longmod.pipeline.context import TIMING_COLUMNS
from longmod.results.writing import atomic_output_dir
from longmod.spec.plan import AnalysisPlan

#: Columns of :attr:`Reanalysis.timings` (compile facts are filled for Bayesian fits).
TIMINGS_COLUMNS: tuple[str, ...] = ("analysis", "outcome", "engine", "contrast", "seconds", *TIMING_COLUMNS[:-2])


@dataclass(frozen=True)
class Reanalysis:
    """Everything a reanalysis produced.

    Attributes
    ----------
    effects : pandas.DataFrame
        One row per analysis result in the common schema (published rows
        included, ``engine = "published"``), plus ``label``,
        ``estimand_label``, ``estimand_day`` (the day of the estimand the row
        targets: comparisons are made at it), ``data_label`` (``synthetic`` /
        ``user data`` / ``published summary``), ``status`` (``ok``, ``not
        run: ...``, ``failed: ...``), ``n_dropped``, ``df_method`` and
        engine-specific extras. Results only: no timing or compile column,
        so two runs with the same seed write the same bytes.
    descriptives : pandas.DataFrame
        Reproduced descriptive statistics beside the published ones:
        ``estimand``, ``variable``, ``arm``, ``day``, ``statistic``,
        ``reproduced``, ``published``, ``difference``, ``quote``.
    imputations : pandas.DataFrame
        Patients per estimand, arm and rule (observed / imputed by which rule).
    trial : TrialData
    plan : AnalysisPlan
    provenance : dict
    timings : pandas.DataFrame
        :data:`TIMINGS_COLUMNS`: seconds per analysis (and per outcome and
        engine for model fits, with the Bayesian compile facts); the
        biomarker section has one row, ``analysis = "biomarkers"``.
    analysis_data : dict
        The :class:`~longmod.estimands.AnalysisData` of each estimand used.
    biomarkers : dict of str to pandas.DataFrame or None
        The biomarker section, or None when the trial has no biomarkers or
        the section was not requested.
    posteriors : dict of str to (arviz.InferenceData, dict)
        Each Bayesian fit's posterior draws and provenance; ``write`` saves
        them as ``posteriors/<key>.nc``.
    """

    effects: pd.DataFrame
    descriptives: pd.DataFrame
    imputations: pd.DataFrame
    trial: TrialData
    plan: AnalysisPlan
    provenance: dict
    timings: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(TIMINGS_COLUMNS)))
    analysis_data: dict = field(default_factory=dict)
    biomarkers: dict[str, pd.DataFrame] | None = None
    posteriors: dict[str, tuple] = field(default_factory=dict)

    @property
    def data_label(self) -> str:
        """``"synthetic"`` for bundled pseudo-patient data, else ``"user data"``."""
        return "synthetic" if self.trial.meta.synthetic else "user data"

    def write(self, out_dir: str | Path) -> Path:
        """Write the results to ``out_dir``, whole or not at all.

        Files: ``effects.csv`` (results only), ``descriptives.csv``,
        ``imputations.csv``, ``timings.csv`` (seconds and compile facts),
        ``report.md``, ``report.json``, the self-contained ``report.html`` and
        ``figures/`` (PNG and SVG); with a biomarker section also
        ``biomarkers/<table>.csv`` and ``figures/biomarker_volcano.png``/``.svg``;
        with Bayesian analyses ``posteriors/<key>.nc`` (InferenceData,
        netCDF, with provenance attributes ``longmod_*``; read with
        ``arviz.from_netcdf``).
        """
        from longmod.report.html import write_html_report
        from longmod.report.json_report import report_dict
        from longmod.report.markdown import render_markdown

        with atomic_output_dir(out_dir) as tmp:
            self.effects.drop(columns=[c for c in TIMING_COLUMNS if c in self.effects]).to_csv(
                tmp / "effects.csv", index=False)
            self.descriptives.to_csv(tmp / "descriptives.csv", index=False)
            self.imputations.to_csv(tmp / "imputations.csv", index=False)
            self.timings.to_csv(tmp / "timings.csv", index=False)
            (tmp / "report.md").write_text(render_markdown(self), encoding="utf-8")
            (tmp / "report.json").write_text(json.dumps(report_dict(self), indent=2, ensure_ascii=False) + "\n",
                                             encoding="utf-8")
            write_html_report(self, tmp)
            if self.biomarkers:
                from longmod.biomarkers.section import write_section

                write_section(self.biomarkers, tmp / "biomarkers")
            if self.posteriors:
                from longmod.engines.bayes.summaries import save_inference_data

                for key, (idata, prov) in self.posteriors.items():
                    save_inference_data(idata, tmp / "posteriors" / f"{key}.nc", prov)
        return Path(out_dir)
