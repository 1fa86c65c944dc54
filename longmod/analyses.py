"""Single-endpoint analyses of a plan: ANCOVA, rank-sum, within-arm signed-rank.

Each function takes :class:`~longmod.estimands.AnalysisData` and returns
common-schema rows (see :mod:`longmod.results.schema`). Longitudinal models
and Bayesian engines plug into :mod:`longmod.reanalyse` the same way.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy

from longmod.engines.ancova import fit_ancova, rank_sum_test, signed_rank_test
from longmod.estimands import AnalysisData
from longmod.spec.model import Treatment
from longmod.spec.plan import Analysis


def _base_row(analysis: Analysis, data: AnalysisData) -> dict:
    e = data.estimand
    return {
        "analysis": analysis.name,
        "estimand": e.name,
        "outcome": f"{e.outcome}_change",
        "day": e.day,
        "label": analysis.options.get("label", analysis.name),
        "estimand_label": e.label or e.describe(),
    }


def ancova_rows(analysis: Analysis, data: AnalysisData, treatment: Treatment) -> list[dict]:
    """ANCOVA of the change on treatment + covariates (t-based 95% CI).

    Examples
    --------
    >>> # see longmod.engines.ancova.fit_ancova for a runnable example
    """
    d = data.complete
    cov = tuple(analysis.options.get("covariates", ("baseline", "age_gt70", "sofa_gt11")))
    fit = fit_ancova(d, treatment=treatment, outcome="change", covariates=cov)
    return [
        {
            **_base_row(analysis, data), "contrast": treatment.label, **fit.as_row(),
            "engine": "ancova-ols", "engine_version": f"numpy {np.__version__}",
            "n_patients": fit.n_obs, "residual_sd": fit.residual_sd,
        }
    ]


def rank_sum_rows(analysis: Analysis, data: AnalysisData, treatment: Treatment) -> list[dict]:
    """Wilcoxon rank-sum test of the change between arms (Hodges-Lehmann shift, exact CI)."""
    d = data.complete
    x = d.loc[d["arm"] == treatment.active, "change"].to_numpy()
    y = d.loc[d["arm"] == treatment.reference, "change"].to_numpy()
    r = rank_sum_test(x, y)
    return [
        {
            **_base_row(analysis, data), "contrast": treatment.label, "estimate": r.estimate,
            "conf_low": r.conf_low, "conf_high": r.conf_high, "p_value": r.p_value,
            "engine": "wilcoxon-rank-sum", "engine_version": f"scipy {scipy.__version__}",
            "n_obs": r.n, "n_patients": r.n, "statistic": r.statistic, "exact": r.exact,
        }
    ]


def signed_rank_rows(analysis: Analysis, data: AnalysisData, treatment: Treatment) -> list[dict]:
    """Within-arm Wilcoxon signed-rank test of baseline vs endpoint value, one row per arm."""
    d = data.complete
    rows = []
    e = data.estimand
    for arm in (treatment.active, treatment.reference):
        g = d[d["arm"] == arm]
        r = signed_rank_test(g["baseline"].to_numpy(), g["value"].to_numpy())
        rows.append(
            {
                **_base_row(analysis, data), "contrast": f"{arm}: D{e.day} - D{e.baseline_day}",
                "estimate": r.estimate, "p_value": r.p_value, "engine": "wilcoxon-signed-rank",
                "engine_version": f"scipy {scipy.__version__}", "n_obs": 2 * r.n, "n_patients": r.n,
                "statistic": r.statistic, "exact": r.exact,
            }
        )
    return rows


def descriptive_rows(data: AnalysisData) -> pd.DataFrame:
    """Per-arm mean, SD, median and quartiles (R type 7) of baseline, value and change.

    Returns
    -------
    pandas.DataFrame
        Columns ``estimand``, ``variable``, ``arm``, ``day``, ``statistic``,
        ``reproduced``, ``n``.
    """
    d = data.complete
    e = data.estimand
    out = []
    for arm, g in d.groupby("arm"):
        for var, day in (("baseline", e.baseline_day), ("value", e.day), ("change", e.day)):
            x = g[var].to_numpy(float)
            stats_ = {
                "n": len(x), "mean": x.mean(), "sd": x.std(ddof=1), "median": np.median(x),
                "q1": np.quantile(x, 0.25), "q3": np.quantile(x, 0.75),
            }
            for s, v in stats_.items():
                out.append({"estimand": e.name, "variable": var, "arm": arm, "day": day, "statistic": s,
                            "reproduced": float(v), "n": len(x)})
    return pd.DataFrame(out)


#: Analysis kind -> function(analysis, analysis_data, treatment) -> rows.
SINGLE_ENDPOINT_ANALYSES = {
    "ancova": ancova_rows,
    "rank_sum": rank_sum_rows,
    "signed_rank": signed_rank_rows,
}
