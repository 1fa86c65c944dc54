"""Ordinal-scale figure: stacked bars of the categories (e.g. the WHO scale) by day and arm.

:func:`ordinal_bars_data` is the data-only twin of :func:`ordinal_bars_plot`:
the proportion of patients in each category per day and arm, as drawn. Days
with fewer than ``min_patients`` patients in an arm are not drawn (the arm's
bar would describe one or two patients); the skipped days are listed in the
data and in the caption-ready note of :func:`ordinal_bars_plot`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from longmod.report.canvas import new_figure

#: Fewest patients of an arm on a day for its bar to be drawn.
MIN_PATIENTS: int = 3


def ordinal_bars_data(
    frame: pd.DataFrame,
    *,
    levels: Sequence,
    arms: Sequence[str],
    days: Sequence[int] | None = None,
    arm: str = "arm",
    day: str = "day",
    value: str = "value",
    min_patients: int = MIN_PATIENTS,
) -> pd.DataFrame:
    """Proportion of patients per category, day and arm (what the stacked bars draw).

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per patient and day (long format); not modified.
    levels : sequence
        The scale's categories in order (e.g. ``range(0, 9)``); a value
        outside them is an error.
    arms : sequence of str
        Arms in drawing order (e.g. the reference arm first).
    days : sequence of int, optional
        Days to draw (default: every day in ``frame``).
    arm, day, value : str
        Column names.
    min_patients : int
        Days on which an arm has fewer patients are skipped for that arm
        (``drawn`` False).

    Returns
    -------
    pandas.DataFrame
        ``day``, ``arm``, ``level``, ``n`` (patients in the category),
        ``n_patients`` (patients of the arm on that day), ``proportion``,
        ``drawn``; one row per day x arm x level.

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"arm": ["a"] * 4 + ["b"] * 2, "day": [7] * 6, "value": [3, 3, 4, 5, 4, 4]})
    >>> d = ordinal_bars_data(f, levels=[3, 4, 5], arms=["a", "b"])
    >>> d[d.arm == "a"][["level", "n", "proportion"]].to_dict("list")
    {'level': [3, 4, 5], 'n': [2, 1, 1], 'proportion': [0.5, 0.25, 0.25]}
    >>> bool(d[d.arm == "b"]["drawn"].any())  # 2 patients < 3
    False
    """
    for c in (arm, day, value):
        if c not in frame.columns:
            raise ValueError(f"column {c!r} not found; columns are: {', '.join(map(str, frame.columns))}")
    levels = list(levels)
    f = frame[[arm, day, value]].dropna()
    bad = ~f[value].isin(levels)
    if bad.any():
        i = f.index[bad.to_numpy()][0]
        raise ValueError(f"row {i!r}: {value} = {f.loc[i, value]!r} is not one of the levels {levels}")
    unknown = sorted(set(f[arm].astype(str)) - set(map(str, arms)))
    if unknown:
        raise ValueError(f"arm(s) {unknown} are not among the arms to draw {list(arms)}")
    days = sorted(f[day].unique()) if days is None else list(days)
    rows = []
    for d in days:
        for a in arms:
            g = f[(f[day] == d) & (f[arm].astype(str) == str(a))]
            n_pat = len(g)
            counts = g[value].value_counts()
            for lev in levels:
                n = int(counts.get(lev, 0))
                rows.append({"day": d, "arm": a, "level": lev, "n": n, "n_patients": n_pat,
                             "proportion": n / n_pat if n_pat else np.nan, "drawn": n_pat >= min_patients})
    return pd.DataFrame(rows, columns=["day", "arm", "level", "n", "n_patients", "proportion", "drawn"])


def _level_colours(levels: Sequence, better: str) -> dict:
    """Sequential colours from the best (light green) to the worst (dark red) category; the worst is black."""
    from matplotlib import colormaps

    k = len(levels)
    cmap = colormaps["RdYlGn"]
    order = list(levels) if better == "lower" else list(levels)[::-1]  # best first
    cols = {lev: cmap(1.0 - i / max(k - 1, 1) * 0.95) for i, lev in enumerate(order)}
    cols[order[-1]] = (0.1, 0.1, 0.1, 1.0)
    return cols


def ordinal_bars_plot(
    frame: pd.DataFrame,
    *,
    levels: Sequence,
    arms: Sequence[str],
    days: Sequence[int] | None = None,
    arm: str = "arm",
    day: str = "day",
    value: str = "value",
    better: str = "lower",
    level_labels: dict | None = None,
    title: str = "",
    min_patients: int = MIN_PATIENTS,
    ax=None,
):
    """Stacked bars of the categories per day, the arms side by side (dodged), patients per bar on top.

    Parameters
    ----------
    frame, levels, arms, days, arm, day, value, min_patients
        See :func:`ordinal_bars_data`.
    better : {"lower", "higher"}
        Direction of benefit (colours run from the best to the worst category,
        the worst drawn black).
    level_labels : dict, optional
        Legend text per level (default: the level).
    title : str
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"arm": ["a"] * 3 + ["b"] * 3, "day": [7] * 6, "value": [3, 3, 4, 5, 4, 4]})
    >>> fig = ordinal_bars_plot(f, levels=[3, 4, 5], arms=["a", "b"], title="WHO scale")
    >>> [t.get_text() for t in fig.axes[0].get_xticklabels()]
    ['D7']
    """
    d = ordinal_bars_data(frame, levels=levels, arms=arms, days=days, arm=arm, day=day, value=value,
                          min_patients=min_patients)
    day_list = list(dict.fromkeys(d["day"]))
    if ax is None:
        fig, axes = new_figure((max(6.0, 1.0 + 0.55 * len(day_list) * len(arms)), 4.6))
        ax = axes[0, 0]
    else:
        fig = ax.figure
    cols = _level_colours(levels, better)
    labels = level_labels or {}
    width = 0.8 / max(len(arms), 1)
    hatches = ["", "//", "..", "xx"]
    for i, a in enumerate(arms):
        g = d[(d["arm"] == a) & d["drawn"]]
        x0 = np.array([day_list.index(v) for v in g["day"]], dtype=float)
        xs = np.unique(x0) + (i - (len(arms) - 1) / 2) * width
        for j, x in enumerate(np.unique(x0)):
            bottom = 0.0
            sub = g[x0 == x]
            for r in sub.itertuples():
                if r.proportion > 0:
                    ax.bar(xs[j], r.proportion, width=width * 0.92, bottom=bottom, color=cols[r.level],
                           edgecolor="white", lw=0.4, hatch=hatches[i % len(hatches)])
                bottom += r.proportion
            ax.text(xs[j], 1.01, f"{int(sub['n_patients'].iloc[0])}", ha="center", va="bottom", fontsize=6.5)
    from matplotlib.patches import Patch

    handles = [Patch(facecolor=cols[lev], label=str(labels.get(lev, lev))) for lev in levels]
    handles += [Patch(facecolor="white", edgecolor="#555555", hatch=hatches[i % len(hatches)], label=f"{a}")
                for i, a in enumerate(arms)]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False,
              title="category / arm (bar order left to right)", title_fontsize=7)
    ax.set_xticks(range(len(day_list)), [f"D{int(v)}" for v in day_list], fontsize=8)
    ax.set_xlim(-0.6, len(day_list) - 0.4)
    ax.set_ylim(0, 1.08)
    ax.set_yticks([0.0, 0.25, 0.5, 0.75, 1.0])
    ax.set_ylabel("Proportion of patients", fontsize=9)
    skipped = sorted({f"{r.arm} D{int(r.day)}" for r in d[~d["drawn"]].itertuples()})
    note = f"numbers above the bars: patients; not drawn (< {min_patients} patients): {', '.join(skipped)}" \
        if skipped else "numbers above the bars: patients per arm and day"
    import textwrap

    width = int(fig.get_size_inches()[0] * 11)  # characters of 8-point text per line of the figure
    ax.set_xlabel("\n".join(textwrap.wrap(f"Day ({note})", width)), fontsize=8)
    if title:
        ax.set_title("\n".join(textwrap.wrap(title, width)) or title, fontsize=10)  # wrapped, never cut
    ax.spines[["top", "right"]].set_visible(False)
    return fig
