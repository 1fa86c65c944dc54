"""The common result schema shared by every engine (see DESIGN.md).

Every engine returns one row per (analysis, outcome, day, contrast) with these
columns, raw numbers, snake_case. Bayesian engines fill ``conf_*`` with the
credible interval and add the columns of :data:`BAYES_COLUMNS`. Published
results are rows with ``engine = "published"`` and a ``source_quote``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

EFFECT_COLUMNS: tuple[str, ...] = (
    "analysis",
    "estimand",
    "outcome",
    "day",
    "contrast",
    "estimate",
    "std_error",
    "df",
    "conf_low",
    "conf_high",
    "p_value",
    "engine",
    "engine_version",
    "n_obs",
    "n_patients",
)

BAYES_COLUMNS: tuple[str, ...] = (
    "prob_benefit",
    "prob_mcid",
    "r_hat",
    "ess_bulk",
    "divergences",
)

EXTRA_COLUMNS: tuple[str, ...] = ("data_label", "source_quote", "note")

_NUMERIC = {
    "day",
    "estimate",
    "std_error",
    "df",
    "conf_low",
    "conf_high",
    "p_value",
    "n_obs",
    "n_patients",
    *BAYES_COLUMNS,
}


def effects_frame(rows: Iterable[Mapping[str, object]]) -> pd.DataFrame:
    """Build a tidy effects table in the common schema.

    Parameters
    ----------
    rows : iterable of mapping
        One mapping per result row. Keys outside the schema are kept as extra
        columns after the schema columns; missing schema keys become NaN.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`EFFECT_COLUMNS` first (``analysis``, ``estimand``,
        ``outcome``, ``day``, ``contrast``, ``estimate``, ``std_error``, ``df``,
        ``conf_low``, ``conf_high``, ``p_value``, ``engine``,
        ``engine_version``, ``n_obs``, ``n_patients``), then any extra columns
        in first-seen order.

    Examples
    --------
    >>> from longmod.results.schema import effects_frame
    >>> t = effects_frame([{"analysis": "a", "estimate": 1.5, "engine": "x"}])
    >>> list(t.columns[:3]), float(t.loc[0, "estimate"])
    (['analysis', 'estimand', 'outcome'], 1.5)
    """
    rows = [dict(r) for r in rows]
    extra: list[str] = []
    for r in rows:
        for k in r:
            if k not in EFFECT_COLUMNS and k not in extra:
                extra.append(k)
    cols = list(EFFECT_COLUMNS) + extra
    frame = pd.DataFrame(rows, columns=cols)
    for c in cols:
        if c in _NUMERIC:
            frame[c] = pd.to_numeric(frame[c], errors="coerce").astype(float)
    return frame


def concat_effects(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Stack several effects tables, keeping the schema column order.

    Examples
    --------
    >>> from longmod.results.schema import effects_frame, concat_effects
    >>> a = effects_frame([{"analysis": "a"}]); b = effects_frame([{"analysis": "b", "prob_mcid": 0.2}])
    >>> list(concat_effects([a, b])["analysis"])
    ['a', 'b']
    """
    frames = [f for f in frames if f is not None and len(f)]
    if not frames:
        return effects_frame([])
    out = pd.concat(frames, ignore_index=True, sort=False)
    extra = [c for c in out.columns if c not in EFFECT_COLUMNS]
    return out[list(EFFECT_COLUMNS) + extra]


def t_interval(estimate: float, std_error: float, df: float, level: float = 0.95) -> tuple[float, float, float]:
    """Two-sided t (or z when ``df`` is inf/NaN) interval and P value.

    Returns
    -------
    tuple of float
        ``(conf_low, conf_high, p_value)``.

    Examples
    --------
    >>> lo, hi, p = t_interval(0.0, 1.0, float("inf"))
    >>> round(hi, 3), p
    (1.96, 1.0)
    """
    from scipy import special  # the functions behind scipy.stats' t and norm, without their per-call overhead

    if not np.isfinite(df):
        q = float(special.ndtri(0.5 + level / 2))
        p = 2 * special.ndtr(-abs(estimate / std_error))
    else:
        q = float(special.stdtrit(df, 0.5 + level / 2))
        p = 2 * special.stdtr(df, -abs(estimate / std_error))
    return estimate - q * std_error, estimate + q * std_error, float(p)
