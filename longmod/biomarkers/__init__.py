"""Plasma biomarkers: test-by-test analysis, censored (Tobit) models, partial pooling.

Submodules (imported lazily by the caller; nothing heavy at import):

* :mod:`~longmod.biomarkers.frame` - the generic long frame and the adapter
  :func:`~longmod.biomarkers.frame.biomarker_frame` from TrialData;
* :mod:`~longmod.biomarkers.paper` - the published analysis (LOQ/2, Wilcoxon, BH);
* :mod:`~longmod.biomarkers.tobit` - censored Gaussian regression and the
  censored random-intercept mixed model (Gauss-Hermite);
* :mod:`~longmod.biomarkers.bayes` - PyMC censored models, per marker and pooled;
* :mod:`~longmod.biomarkers.simulate` / :mod:`~longmod.biomarkers.study` -
  seeded synthetic data and the simulation study;
* :mod:`~longmod.biomarkers.section` - :func:`biomarker_section` for ``longmod reanalyse``.
"""

from longmod.biomarkers.frame import biomarker_frame, check_frame, log10_frame
from longmod.biomarkers.section import biomarker_section, has_biomarkers

__all__ = ["biomarker_frame", "biomarker_section", "check_frame", "has_biomarkers", "log10_frame"]
