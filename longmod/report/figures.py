"""The figures of a reanalysis report: what they are, drawing them, and saving them as PNG and SVG.

The HTML, Markdown and JSON reports list the same figures (:func:`figure_list`);
:func:`save_figures` writes them to ``figures/`` as PNG and SVG for papers and
slides, with the same bytes on every run (:mod:`longmod.report.canvas`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from longmod.report import plots
from longmod.report.canvas import figure_to_png, figure_to_svg
from longmod.report.tables import biomarker_rows


@dataclass(frozen=True)
class ReportFigure:
    """One report figure: its file stem, the matplotlib Figure, alt text and caption."""

    name: str
    figure: object
    alt: str
    caption: str


def _figure_specs(res) -> list[tuple[dict, object]]:
    """(description, draw) of each report figure; ``draw()`` returns the matplotlib Figure."""
    specs: list[tuple[dict, object]] = []

    def add(name: str, kind: str, alt: str, caption: str, draw, *, title: str | None = None, **extra) -> None:
        specs.append(({"name": name, "kind": kind, "png": f"figures/{name}.png", "svg": f"figures/{name}.svg",
                       "title": title or alt, "alt": alt, "caption": caption, **extra}, draw))

    biomarkers = set(biomarker_rows(res.effects, res.trial)["outcome"].map(plots.base_variable)) if len(res.effects) else set()
    for i, outcome in enumerate(o for o in plots.forest_outcomes(res.effects) if o not in biomarkers):
        fd = plots.forest_data(res.effects, outcome=outcome)
        if fd.empty:
            continue
        day = plots.comparison_day(res.effects, outcome)
        rows = "; ".join(f"{r.label}: {r.estimate:.1f} ({r.conf_low:.1f} to {r.conf_high:.1f})" for r in fd.itertuples())
        name = "forest" if i == 0 else f"forest_{outcome}"
        band = (" The shaded band is the published 95% CI and the dashed line the published estimate."
                if fd["is_published"].any() else "")
        add(name, "forest", f"Forest plot of {outcome} at day {day:g}. Rows: {rows}",
            f"{outcome} at day {day:g} (the estimand's day): treatment effect of every analysis and engine with a "
            f"result at that day (95% interval).{band}",
            lambda outcome=outcome, day=day: plots.forest_plot(res.effects, outcome=outcome, day=day),
            title=f"Forest plot of {outcome} at day {day:g}", outcome=outcome, day=day)
    label = "synthetic" if res.trial.meta.synthetic else "user"
    for v in plots.trajectory_variables(res.trial):
        info = res.trial.meta.variables.get(v)
        name = info.display if info is not None else v
        add(f"trajectory_{v}", "trajectory", f"Trajectories of {name} by arm ({label} data)",
            f"{name}: individual patients (thin lines) and mean ± 95% CI by arm and day ({label} data).",
            lambda v=v: plots.trajectory_plot(res.trial, v), variable=v)
    grid = plots.prior_grid_rows(res.effects)
    for analysis, g in grid.groupby("analysis", sort=False):
        m = g["mcid"].dropna().iloc[0] if "mcid" in g and g["mcid"].notna().any() else None
        add(f"prior_posterior_{analysis}", "prior_posterior", f"Prior and posterior densities, {analysis}",
            f"Prior grid '{analysis}': prior (dashed) and posterior (solid) normal densities"
            + (f"; dotted lines at ±MCID = {m:g}." if m else "."),
            lambda g=g, m=m: plots.prior_posterior_plot(g, mcid=m), analysis=str(analysis))
    section = getattr(res, "biomarkers", None)
    if section:
        from longmod.report.biomarkers import BH_ALPHA, LFSR_THRESHOLD, VOLCANO_NAME, volcano_plot

        add(VOLCANO_NAME, "volcano", "Volcano plot: log2 fold change against -log10 Wilcoxon P per marker, one panel per day",
            f"Biomarkers ({label} data): red = BH-adjusted P < {BH_ALPHA:g}; purple ring = pooled posterior "
            f"lfsr < {LFSR_THRESHOLD:g}.", lambda: volcano_plot(section), title="Biomarker volcano plot")
    return specs


def figure_list(res) -> list[dict]:
    """Describe the report's figures without drawing them.

    The Markdown and JSON reports use it to reference the files that
    :func:`save_figures` writes, so all three reports list the same figures.

    Parameters
    ----------
    res : longmod.pipeline.Reanalysis

    Returns
    -------
    list of dict
        One dict per figure, in report order: ``name`` (file stem), ``kind``
        (``"forest"``, ``"trajectory"``, ``"prior_posterior"`` or ``"volcano"``), ``png`` and
        ``svg`` (paths relative to the output folder, ``figures/<name>.png|svg``),
        ``title`` (short), ``alt`` (text alternative listing what is drawn;
        for forest plots every row), ``caption``, and
        ``outcome``, ``variable`` or ``analysis`` (what the figure shows).

    Examples
    --------
    >>> from longmod.pipeline import reanalyse
    >>> figs = figure_list(reanalyse("stroma-cov2", only=["primary_ancova"]))
    >>> figs[0]["name"], figs[0]["png"]
    ('forest', 'figures/forest.png')
    >>> "synthetic data" in figs[1]["alt"]
    True
    """
    return [meta for meta, _ in _figure_specs(res)]


def build_figures(res) -> list[ReportFigure]:
    """The report's figures (forest plot, trajectories, prior vs posterior) for a reanalysis.

    Parameters
    ----------
    res : longmod.pipeline.Reanalysis

    Returns
    -------
    list of ReportFigure
        ``forest`` (the published outcome), ``forest_<outcome>`` for each other
        non-biomarker outcome with between-arm effects, ``trajectory_<variable>`` for PaO2/FiO2, SOFA, driving
        pressure and compliance when measured, ``prior_posterior_<analysis>``
        for each prior grid and ``biomarker_volcano`` with a biomarker section
        (the figures that :func:`figure_list` describes).

    Examples
    --------
    >>> from longmod.pipeline import reanalyse
    >>> res = reanalyse("stroma-cov2", only=["primary_ancova"])
    >>> figs = build_figures(res)
    >>> [f.name for f in figs][:2] == ["forest", f"trajectory_{res.trial.meta.primary_outcome}"]
    True
    >>> type(figs[0].figure).__name__
    'Figure'
    """
    return [ReportFigure(meta["name"], draw(), meta["alt"], meta["caption"]) for meta, draw in _figure_specs(res)]


def save_figures(res, out_dir: str | Path, *, figures: list[ReportFigure] | None = None,
                 _png_cache: dict[str, bytes] | None = None) -> list[Path]:
    """Write every report figure as PNG and SVG to ``out_dir/figures/``.

    Parameters
    ----------
    res : longmod.pipeline.Reanalysis
    out_dir : str or pathlib.Path
        Output folder; ``figures/`` is created inside it.
    figures : list of ReportFigure, optional
        Already built figures (see :func:`build_figures`), to avoid drawing twice.

    Returns
    -------
    list of pathlib.Path
        The written files.

    Examples
    --------
    >>> import tempfile, dataclasses
    >>> from longmod.results.schema import effects_frame
    >>> class Res:  # any object with .effects, .trial and .plan works
    ...     effects = effects_frame([{"analysis": "a", "contrast": "x - y", "estimate": 1.0,
    ...         "conf_low": 0.0, "conf_high": 2.0, "engine": "published", "outcome": "pf", "day": 7}])
    ...     class trial:
    ...         class meta:
    ...             synthetic, variables = True, {}
    ...         measurements = __import__("pandas").DataFrame({"variable": []})
    ...     plan = None
    >>> sorted(p.name for p in save_figures(Res(), tempfile.mkdtemp()))
    ['forest.png', 'forest.svg']
    """
    out = Path(out_dir) / "figures"
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for f in figures if figures is not None else build_figures(res):
        (out / f"{f.name}.png").write_bytes(_png(f, _png_cache))
        (out / f"{f.name}.svg").write_text(figure_to_svg(f.figure), encoding="utf-8")
        written += [out / f"{f.name}.png", out / f"{f.name}.svg"]
    return written


#: Resolution of the PNG figures (embedded and saved).
PNG_DPI: int = 110


def _png(f: ReportFigure, cache: dict[str, bytes] | None) -> bytes:
    if cache is not None and f.name in cache:
        return cache[f.name]
    png = figure_to_png(f.figure, dpi=PNG_DPI)
    # the layout is now solved; freeze it so the SVG does not solve it again
    f.figure.set_layout_engine("none")
    if cache is not None:
        cache[f.name] = png
    return png


