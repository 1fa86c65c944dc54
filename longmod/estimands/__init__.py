"""Intercurrent-event strategies applied to trial data."""

from longmod.estimands.apply import ANALYSIS_COLUMNS, AnalysisData, apply_estimand

__all__ = ["ANALYSIS_COLUMNS", "AnalysisData", "apply_estimand"]
