"""Report of a simulation study: power curves and a Markdown summary (no timings: same seed, same bytes)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def power_curve_data(oc: pd.DataFrame) -> pd.DataFrame:
    """The points of :func:`power_curves`: ``panel`` (effect), ``analysis``, ``x`` (patients per arm), ``y``, ``lo``, ``hi``.

    ``lo``/``hi`` are the rejection rate +/- 1.96 Monte Carlo SE.

    Examples
    --------
    >>> oc = pd.DataFrame({"analysis": ["a", "a"], "n_per_arm": [10, 20], "effect": [0.0, 0.0],
    ...                    "rejection_rate": [0.05, 0.06], "rejection_rate_mcse": [0.01, 0.01]})
    >>> power_curve_data(oc)["x"].tolist()
    [10, 20]
    """
    d = oc.dropna(subset=["rejection_rate"]).sort_values(["effect", "analysis", "n_per_arm"])
    return pd.DataFrame({"panel": d["effect"], "analysis": d["analysis"], "x": d["n_per_arm"], "y": d["rejection_rate"],
                         "lo": d["rejection_rate"] - 1.96 * d["rejection_rate_mcse"],
                         "hi": d["rejection_rate"] + 1.96 * d["rejection_rate_mcse"]}).reset_index(drop=True)


def power_curves(oc: pd.DataFrame, ax=None, alpha: float = 0.05):
    """Rejection rate against patients per arm, one line per analysis, one panel per true effect.

    Returns the matplotlib figure (``ax``: draw a single-effect study into it).

    Examples
    --------
    >>> oc = pd.DataFrame({"analysis": ["a", "a"], "n_per_arm": [10, 20], "effect": [0.0, 0.0],
    ...                    "rejection_rate": [0.05, 0.06], "rejection_rate_mcse": [0.01, 0.01]})
    >>> len(power_curves(oc).axes)
    1
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    d = power_curve_data(oc)
    panels = sorted(d["panel"].unique())
    if ax is None:
        fig, axes = plt.subplots(1, max(len(panels), 1), figsize=(4.2 * max(len(panels), 1), 3.4), squeeze=False)
        axes = axes[0]
    else:
        fig, axes = ax.figure, [ax]
    for a, eff in zip(axes, panels):
        g = d[d["panel"] == eff]
        for name, h in g.groupby("analysis", sort=False):
            x, y, lo, hi = (h[c].to_numpy(float) for c in ("x", "y", "lo", "hi"))
            a.errorbar(x, y, yerr=np.vstack([y - lo, hi - y]), marker="o", capsize=3, label=str(name))
        a.axhline(alpha if eff == 0 else 0.8, color="grey", lw=0.8, ls="--")
        a.set_title(f"true effect {eff:g}" + (" (null: type I error)" if eff == 0 else ""), fontsize=10)
        a.set_xlabel("patients per arm")
        a.set_ylim(0, 1 if eff != 0 else max(0.2, float(np.nanmax(g["hi"])) * 1.1))
    axes[0].set_ylabel("rejection rate (95% MC interval)")
    axes[0].legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def _num(x, digits=3) -> str:
    return "" if x is None or (isinstance(x, float) and not np.isfinite(x)) else f"{x:.{digits}f}"


def render_markdown(result) -> str:
    """The study's report: scenario, estimands and truths, the operating-characteristics table, the figure."""
    sc = result.scenario
    oc = result.operating_characteristics
    lines = [f"# Simulation study: {sc.name}", "",
             "> **Simulated trials.** Every number here comes from trials simulated from the scenario below"
             + (f", derived from {sc.derived_from}" if sc.derived_from else "") + ".", "",
             sc.description, "",
             f"- arms: {sc.active_arm} vs {sc.reference_arm} (reference); endpoint day {sc.endpoint_day}; "
             f"two-sided alpha {sc.alpha:g}",
             f"- trials per cell: {result.provenance['trials']}; seed {result.provenance['seed']}; "
             f"chunk size {result.provenance['chunk_size']}; scenario sha256 {result.provenance['scenario_sha256'][:12]}",
             f"- composite rules: death: {sc.estimand.death.describe()}; ICU discharge: {sc.estimand.discharge.describe()}",
             "", "## Analyses", ""]
    from longmod.simulate.analyses import SIMULATION_ANALYSES

    for a in sc.analyses:
        k = SIMULATION_ANALYSES[a.kind]
        opts = ", ".join(f"{x} = {v}" for x, v in a.options.items())
        lines.append(f"- `{a.name}` ({a.kind}; estimand: {k.estimand}): {k.doc}" + (f" [{opts}]" if opts else ""))
    lines += ["", "## Operating characteristics", "",
              "MCSE in brackets. Rejection: two-sided p < alpha (Bayesian rule: P(benefit) > threshold).", "",
              "| analysis | n/arm | effect | truth | trials | failed | rejection | bias | RMSE | coverage | CI width |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for _, r in oc.iterrows():
        lines.append(
            f"| {r['analysis']} | {r['n_per_arm']} | {r['effect']:g} | {_num(r['truth'])} | {r['trials']} | {r['failed']} | "
            f"{_num(r['rejection_rate'])} ({_num(r['rejection_rate_mcse'])}) | {_num(r['bias'])} ({_num(r['bias_mcse'])}) | "
            f"{_num(r['rmse'])} ({_num(r['rmse_mcse'])}) | {_num(r['coverage'])} ({_num(r['coverage_mcse'])}) | "
            f"{_num(r['mean_ci_width'], 1)} ({_num(r['mean_ci_width_mcse'], 1)}) |")
    lines += ["", "![power curves](figures/power_curves.svg)", ""]
    return "\n".join(lines)
