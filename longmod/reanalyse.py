"""Run a trial's declared analysis plan end to end.

``reanalyse("stroma-cov2")`` loads the bundled (synthetic) fixture and the plan
in ``models/stroma_cov2/plan.toml``, applies each estimand, runs each analysis
and sets the results beside the published ones. ``reanalyse(data=folder)``
runs the same plan on a user's own trial folder.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

import longmod
from longmod.analyses import SINGLE_ENDPOINT_ANALYSES, descriptive_rows
from longmod.data import TrialData, load_trial
from longmod.estimands import AnalysisData, apply_estimand
from longmod.published import published_citation, published_descriptives, published_effects
from longmod.resources import fixtures_dir, models_dir, trial_names
from longmod.results.schema import concat_effects, effects_frame
from longmod.results.writing import atomic_output_dir
from longmod.spec.plan import AnalysisPlan, load_plan

#: Pseudo-analysis name of the biomarker section (accepted by ``only=`` and ``--only``).
BIOMARKERS = "biomarkers"


@dataclass(frozen=True)
class Reanalysis:
    """Everything a reanalysis produced.

    Attributes
    ----------
    effects : pandas.DataFrame
        One row per analysis result in the common schema (published rows
        included, ``engine = "published"``), plus ``label``,
        ``estimand_label``, ``data_label`` (``synthetic`` / ``user data`` /
        ``published``) and engine-specific extras.
    descriptives : pandas.DataFrame
        Reproduced descriptive statistics beside the published ones:
        ``estimand``, ``variable``, ``arm``, ``day``, ``statistic``,
        ``reproduced``, ``published``, ``difference``, ``quote``.
    imputations : pandas.DataFrame
        Patients per estimand, arm and rule (observed / imputed by which rule).
    trial : TrialData
    plan : AnalysisPlan
    provenance : dict
    timings : dict
        Seconds per analysis (``"biomarkers"``: the whole biomarker section).
    analysis_data : dict
        The :class:`~longmod.estimands.AnalysisData` of each estimand used.
    biomarkers : dict of str to pandas.DataFrame or None
        The biomarker section (:func:`longmod.biomarkers.section.biomarker_section`:
        per-day Wilcoxon tests with BH, censored mixed models, the pooled
        Bayesian model, the BH table, diagnostics, timings), or None when
        the trial has no biomarkers or the section was not requested.
    posteriors : dict of str to (arviz.InferenceData, dict)
        Each Bayesian fit's posterior draws and provenance, keyed by analysis
        (and outcome for longitudinal models); ``write`` saves them as
        ``posteriors/<key>.nc``.
    """

    effects: pd.DataFrame
    descriptives: pd.DataFrame
    imputations: pd.DataFrame
    trial: TrialData
    plan: AnalysisPlan
    provenance: dict
    timings: dict = field(default_factory=dict)
    analysis_data: dict = field(default_factory=dict)
    biomarkers: dict[str, pd.DataFrame] | None = None
    posteriors: dict[str, tuple] = field(default_factory=dict)

    @property
    def data_label(self) -> str:
        """``"synthetic"`` for bundled pseudo-patient data, else ``"user data"``."""
        return "synthetic" if self.trial.meta.synthetic else "user data"

    def write(self, out_dir: str | Path) -> Path:
        """Write ``effects.csv``, ``descriptives.csv``, ``imputations.csv``, ``report.md``, ``report.json``,
        the self-contained ``report.html`` and ``figures/`` (PNG and SVG); with a
        biomarker section also ``biomarkers/<table>.csv`` (one file per table of
        :attr:`biomarkers`) and ``figures/biomarker_volcano.png``/``.svg``; with
        Bayesian analyses ``posteriors/<key>.nc`` (InferenceData, netCDF, with
        provenance attributes ``longmod_*``; read with ``arviz.from_netcdf``).

        The folder is written whole or not at all.
        """
        from longmod.report.markdown import render_markdown
        from longmod.report.html import write_html_report
        from longmod.report.json_report import report_dict

        with atomic_output_dir(out_dir) as tmp:
            self.effects.to_csv(tmp / "effects.csv", index=False)
            self.descriptives.to_csv(tmp / "descriptives.csv", index=False)
            self.imputations.to_csv(tmp / "imputations.csv", index=False)
            (tmp / "report.md").write_text(render_markdown(self), encoding="utf-8")
            (tmp / "report.json").write_text(json.dumps(report_dict(self), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            write_html_report(self, tmp)
            if self.biomarkers:
                from longmod.biomarkers.section import write_section

                write_section(self.biomarkers, tmp / "biomarkers")
            if self.posteriors:
                from longmod.engines.bayes.summaries import save_inference_data

                for key, (idata, prov) in self.posteriors.items():
                    save_inference_data(idata, tmp / "posteriors" / f"{key}.nc", prov)
        return Path(out_dir)


def _resolve_trial(name: str) -> tuple[Path, Path]:
    key = name.replace("-", "_")
    plan = models_dir() / key / "plan.toml"
    folder = fixtures_dir() / key
    if not plan.is_file() or not (folder / "trial.toml").is_file():
        raise KeyError(f"unknown trial {name!r}; bundled trials: {', '.join(trial_names())}")
    return folder, plan


def reanalyse(
    trial: str = "stroma-cov2",
    *,
    data: str | Path | TrialData | None = None,
    plan: str | Path | AnalysisPlan | None = None,
    only: list[str] | None = None,
    progress: Callable[[str], None] | None = None,
    biomarkers: bool | None = None,
    biomarker_options: Mapping[str, Any] | None = None,
    sampler: Mapping[str, Any] | None = None,
) -> Reanalysis:
    """Run a trial's analysis plan and compare with the published results.

    Parameters
    ----------
    trial : str
        Bundled trial whose plan (and, unless ``data`` is given, synthetic
        fixture) is used, e.g. ``"stroma-cov2"``.
    data : path or TrialData, optional
        A user's own trial folder (``trial.toml`` + patients + measurements)
        or an already loaded :class:`TrialData`; analysed with the same plan.
    plan : path or AnalysisPlan, optional
        Another plan file instead of the trial's bundled one.
    only : list of str, optional
        Run only these analyses (names from the plan); the pseudo-name
        ``"biomarkers"`` selects the biomarker section.
    progress : callable, optional
        Called with a short message before each analysis (and each step of
        the biomarker section).
    biomarkers : bool, optional
        Run the biomarker section
        (:func:`~longmod.biomarkers.section.biomarker_section`: Wilcoxon + BH
        per day, censored mixed models, the pooled Bayesian model). Default
        (None): when the trial has biomarkers (variables with an LLOQ) and
        ``only`` is not given or names ``"biomarkers"``. True on a trial
        without biomarkers raises ValueError.
    biomarker_options : mapping, optional
        Keyword arguments of ``biomarker_section`` (``markers``, ``pooled``,
        ``prior``, ``sampler``), e.g. ``{"markers": ["IL-6", "IL-8"],
        "sampler": {"draws": 300}}`` for a quick run.
    sampler : mapping, optional
        Overrides of the sampler settings of every Bayesian analysis and of
        the biomarker section's pooled model: ``chains``, ``draws``, ``tune``,
        ``seed`` (see :data:`longmod.engines.bayes.runtime.SAMPLER_KEYS`);
        ``biomarker_options["sampler"]`` wins over it for the biomarkers.

    Returns
    -------
    Reanalysis

    Examples
    --------
    >>> res = reanalyse("stroma-cov2", only=["primary_ancova"])
    >>> res.data_label
    'synthetic'
    >>> sorted(res.effects["engine"].unique())
    ['ancova-ols', 'published']
    >>> res.biomarkers is None  # not requested by only=
    True
    >>> bm = reanalyse("stroma-cov2", only=["biomarkers"], biomarker_options={"pooled": False})
    >>> int(bm.biomarkers["markers"].shape[0])
    48
    """
    folder, plan_path = _resolve_trial(trial)
    p = plan if isinstance(plan, AnalysisPlan) else load_plan(plan or plan_path)
    if isinstance(data, TrialData):
        td = data
    else:
        td = load_trial(data if data is not None else folder)
    label = "synthetic" if td.meta.synthetic else "user data"
    analyses = [a for a in p.analyses if only is None or a.name in only]
    if only:
        unknown = sorted(set(only) - set(p.analysis_names()) - {BIOMARKERS})
        if unknown:
            raise KeyError(f"unknown analysis name(s) {', '.join(unknown)}; the plan declares: "
                           f"{', '.join(p.analysis_names())} (and {BIOMARKERS!r}, the biomarker section)")
    from longmod.biomarkers.section import has_biomarkers

    if biomarkers is None:
        run_biomarkers = (only is None or BIOMARKERS in only) and has_biomarkers(td)
    elif biomarkers and not has_biomarkers(td):
        raise ValueError("biomarkers=True but the trial has no biomarker (no measured variable has an LLOQ)")
    else:
        run_biomarkers = bool(biomarkers)

    adata: dict[str, AnalysisData] = {}

    def analysis_data(name: str) -> AnalysisData:
        if name not in adata:
            adata[name] = apply_estimand(td, p.estimands[name])
        return adata[name]

    rows: list[dict[str, Any]] = []
    extra_frames: list[pd.DataFrame] = []
    posteriors: dict[str, tuple] = {}
    timings: dict[str, float] = {}
    for a in analyses:
        if progress:
            progress(f"{a.name} ({a.kind})")
        t0 = time.perf_counter()
        if a.kind in SINGLE_ENDPOINT_ANALYSES:
            rows += SINGLE_ENDPOINT_ANALYSES[a.kind](a, analysis_data(a.estimand), p.treatment)
        else:
            from longmod.plan_extensions import run_extension

            extra_frames.append(run_extension(a, p, td, analysis_data, sampler=sampler, posteriors=posteriors))
        timings[a.name] = time.perf_counter() - t0
    section = None
    if run_biomarkers:
        from longmod.biomarkers.section import biomarker_section

        t0 = time.perf_counter()
        opts = dict(biomarker_options or {})
        if sampler:
            opts["sampler"] = {**dict(sampler), **dict(opts.get("sampler") or {})}
        section = biomarker_section(td, progress=progress, **opts)
        timings[BIOMARKERS] = time.perf_counter() - t0
    ours = concat_effects([effects_frame(rows), *extra_frames])
    if "data_label" not in ours:
        ours["data_label"] = label
    ours["data_label"] = ours["data_label"].where(ours["data_label"] == "published summary", label)
    pub = published_effects(p.published) if p.published else effects_frame([])
    if len(pub):
        labels = {a.options.get("published"): a for a in p.analyses if a.options.get("published") and a.kind != "prior_grid"}
        pub["label"] = [f"Published: {labels[x].options.get('label', x)}" if x in labels else f"Published: {x}" for x in pub["analysis"]]
        pub["estimand_label"] = [p.estimands[e].label if e in p.estimands else e for e in pub["estimand"]]
    effects = concat_effects([pub, ours])

    desc = pd.concat([descriptive_rows(d) for d in adata.values()], ignore_index=True) if adata else pd.DataFrame()
    # within-arm signed-rank P values are published alongside the D7 means
    sr = ours[ours["engine"] == "wilcoxon-signed-rank"] if len(ours) else ours
    if len(sr):
        pv = pd.DataFrame({"estimand": sr["estimand"], "variable": "value", "arm": sr["contrast"].str.split(":").str[0],
                           "day": sr["day"], "statistic": "p_value", "reproduced": sr["p_value"], "n": sr["n_patients"]})
        desc = pd.concat([desc, pv], ignore_index=True)
    if p.published and len(desc):
        pubd = published_descriptives(p.published).drop(columns="id")
        desc = desc.merge(pubd, on=["estimand", "variable", "arm", "day", "statistic"], how="left")
        desc["difference"] = desc["reproduced"] - desc["published"]
    imputations = (
        pd.concat([d.counts().assign(estimand=k) for k, d in adata.items()], ignore_index=True)[["estimand", "arm", "rule", "n"]]
        if adata else pd.DataFrame(columns=["estimand", "arm", "rule", "n"])
    )
    prov = {
        "longmod_version": longmod.__version__,
        "python": platform.python_version(),
        "data": dict(td.provenance),
        "data_label": label,
        "plan": str(p.path),
        "published": published_citation(p.published) if p.published else None,
    }
    return Reanalysis(effects, desc, imputations, td, p, prov, timings, adata, section, posteriors)
