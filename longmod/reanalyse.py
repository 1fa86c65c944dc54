"""Compatibility alias: :func:`longmod.pipeline.reanalyse` and :class:`longmod.pipeline.Reanalysis`."""

from longmod.pipeline import BIOMARKERS, Reanalysis, reanalyse

__all__ = ["BIOMARKERS", "Reanalysis", "reanalyse"]
