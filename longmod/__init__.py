"""longmod: re-analyse small randomised ICU trials with longitudinal models.

Heavy engines (statsmodels, PyMC, R) are imported lazily, inside the functions
that need them, so ``import longmod`` stays fast.
"""

__version__ = "0.1.0"
