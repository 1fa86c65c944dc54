"""Analyses of a plan that need the longitudinal or Bayesian engines.

Kept apart from :mod:`longmod.reanalyse` so that the heavy engines are only
imported when a plan asks for them.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from longmod.data import TrialData
from longmod.estimands import AnalysisData
from longmod.spec.plan import Analysis, AnalysisPlan


def run_extension(
    analysis: Analysis, plan: AnalysisPlan, trial: TrialData, analysis_data: Callable[[str], AnalysisData]
) -> pd.DataFrame:
    """Run a ``model``, ``bayes_ancova`` or ``prior_grid`` analysis; return common-schema rows."""
    raise NotImplementedError(f"analysis kind {analysis.kind!r} ({analysis.name}) is not available in this build")
