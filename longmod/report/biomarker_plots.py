"""The biomarker volcano plot and its data (between-arm tests, BH and pooled decisions)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from longmod.report.canvas import new_figure

#: BH-adjusted P below which a test counts as a discovery.
BH_ALPHA: float = 0.05
#: Local false sign rate below which a pooled posterior counts as a discovery
#: (the probability that the reported sign is wrong, Stephens 2017).
LFSR_THRESHOLD: float = 0.05
#: File stem of the volcano figure in ``figures/``.
VOLCANO_NAME: str = "biomarker_volcano"


def arms_of(section: Mapping[str, pd.DataFrame]) -> tuple[str, str]:
    """(active, reference) arms of a biomarker section (from its provenance table).

    Examples
    --------
    >>> arms_of({"provenance": pd.DataFrame({"key": ["active_arm", "reference_arm"], "value": ["x", "y"]})})
    ('x', 'y')
    """
    prov = section.get("provenance") if hasattr(section, "get") else None
    if prov is not None and len(prov):
        kv = dict(zip(prov["key"], prov["value"]))
        if "active_arm" in kv and "reference_arm" in kv:
            return str(kv["active_arm"]), str(kv["reference_arm"])
    return "active arm", "reference arm"


def _synthetic(section) -> bool:
    lab = section.get("paper_tests", pd.DataFrame()).get("data_label")
    return lab is not None and lab.astype(str).str.contains("SYNTHETIC").any()


def volcano_plot_data(section: Mapping[str, pd.DataFrame], *, days=None) -> pd.DataFrame:
    """What :func:`volcano_plot` draws: between-arm tests with pooled decisions.

    Parameters
    ----------
    section : mapping
        Output of :func:`~longmod.biomarkers.section.biomarker_section`.
    days : sequence of float, optional
        Days to show (default: every day after the first, i.e. after
        randomisation; all days when there is only one).

    Returns
    -------
    pandas.DataFrame
        ``outcome``, ``day``, ``log2_fold_change``, ``neg_log10_p``
        (Wilcoxon), ``p_value_bh``, ``bh_significant`` (BH-adjusted P <
        :data:`BH_ALPHA`), ``pooled_lfsr`` (NaN without pooling),
        ``pooled_significant`` (lfsr < :data:`LFSR_THRESHOLD`).

    Examples
    --------
    >>> from longmod.biomarkers.simulate import simulate_biomarkers
    >>> from longmod.biomarkers.section import biomarker_section
    >>> sec = biomarker_section(simulate_biomarkers(3, seed=3), pooled=False)
    >>> sorted(volcano_plot_data(sec).day.unique().tolist())
    [2.0, 4.0, 7.0, 14.0]
    """
    t = section["bh_table"]
    all_days = sorted(t["day"].unique())
    keep = list(days) if days is not None else (all_days[1:] if len(all_days) > 1 else all_days)
    t = t[t["day"].isin(keep)]
    out = pd.DataFrame({
        "outcome": t["outcome"], "day": t["day"].astype(float), "log2_fold_change": t["log2_fold_change"],
        "neg_log10_p": -np.log10(t["wilcoxon_p"].astype(float)), "p_value_bh": t["wilcoxon_p_bh"],
        "bh_significant": t["wilcoxon_p_bh"] < BH_ALPHA,
        "pooled_lfsr": t["pooled_lfsr"] if "pooled_lfsr" in t else np.nan,
    })
    out["pooled_significant"] = out["pooled_lfsr"] < LFSR_THRESHOLD
    return out.sort_values(["day", "outcome"], kind="stable").reset_index(drop=True)


def volcano_plot(section: Mapping[str, pd.DataFrame], *, days=None, ax=None, label_top: int = 4):
    """Volcano plot of the between-arm biomarker tests, one panel per day.

    x: log2 fold change (ratio of medians, active arm over reference arm, LOQ/2
    substituted, as in the paper); y: -log10 Wilcoxon P. Filled red: BH-adjusted
    P < :data:`BH_ALPHA`; ringed purple: pooled posterior lfsr <
    :data:`LFSR_THRESHOLD`. The ``label_top`` smallest P values of each panel
    and every pooled discovery are labelled.

    Parameters
    ----------
    section : mapping
        Output of :func:`~longmod.biomarkers.section.biomarker_section`.
    days : sequence of float, optional
        As in :func:`volcano_plot_data`.
    ax : matplotlib.axes.Axes, optional
        Draw every shown day into this one Axes; by default a new figure with
        one panel per day.
    label_top : int
        Markers labelled per panel by P value.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from longmod.biomarkers.simulate import simulate_biomarkers
    >>> from longmod.biomarkers.section import biomarker_section
    >>> sec = biomarker_section(simulate_biomarkers(3, seed=3), pooled=False)
    >>> fig = volcano_plot(sec)
    >>> [a.get_title() for a in fig.axes]
    ['day 2', 'day 4', 'day 7', 'day 14']
    """
    d = volcano_plot_data(section, days=days)
    active, reference = arms_of(section)
    days_shown = sorted(d["day"].unique())
    if ax is None:
        n = max(len(days_shown), 1)
        fig, axes = new_figure((3.2 * n + 0.6, 3.6), 1, n, sharey=True)
        axs = list(axes[0])
    else:
        fig, axs = ax.figure, [ax] * max(len(days_shown), 1)
    if d.empty:
        axs[0].text(0.5, 0.5, "no between-arm biomarker tests", ha="center", va="center", transform=axs[0].transAxes)
        axs[0].set_axis_off()
        return fig
    for k, (a, day) in enumerate(zip(axs, days_shown)):
        g = d[d["day"] == day]
        a.axvline(0, color="#999999", lw=0.7)
        sig = g["bh_significant"].fillna(False).astype(bool)
        a.scatter(g.loc[~sig, "log2_fold_change"], g.loc[~sig, "neg_log10_p"], s=14, color="#7f7f7f", alpha=0.8,
                  label="BH-adjusted P >= 0.05" if k == 0 else None)
        a.scatter(g.loc[sig, "log2_fold_change"], g.loc[sig, "neg_log10_p"], s=22, color="#d62728",
                  label=f"BH-adjusted P < {BH_ALPHA:g}" if k == 0 else None)
        pooled = g["pooled_significant"].fillna(False).astype(bool)
        if g["pooled_lfsr"].notna().any():
            a.scatter(g.loc[pooled, "log2_fold_change"], g.loc[pooled, "neg_log10_p"], s=70, facecolors="none",
                      edgecolors="#9467bd", linewidths=1.4, label=f"pooled lfsr < {LFSR_THRESHOLD:g}" if k == 0 else None)
        top = g.nlargest(label_top, "neg_log10_p").index.union(g.index[pooled])
        for _, r in g.loc[top].iterrows():
            a.annotate(str(r["outcome"]), (r["log2_fold_change"], r["neg_log10_p"]), fontsize=6,
                       xytext=(3, 2), textcoords="offset points")
        if len(axs) > 1 or k == 0:
            a.set_title(f"day {day:g}" if len(set(axs)) > 1 else "between-arm tests", fontsize=9)
        a.set_xlabel(f"log2 fold change ({active} / {reference})", fontsize=8)
        a.grid(color="#eeeeee", lw=0.6)
    axs[0].set_ylabel("-log10 P (Wilcoxon rank-sum)", fontsize=8)
    axs[0].legend(loc="upper left", fontsize=6, frameon=False)
    if _synthetic(section):
        fig.suptitle("Biomarkers, between-arm tests - SYNTHETIC pseudo-patient data", fontsize=9)
    return fig


