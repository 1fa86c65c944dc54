"""The analysis pipeline: a trial's plan run end to end, one registry of analysis kinds.

* :mod:`~longmod.pipeline.registry` - :data:`~longmod.pipeline.registry.KINDS`,
  every analysis kind a plan may declare (options + runner);
* :mod:`~longmod.pipeline.context` - :class:`~longmod.pipeline.context.RunContext`,
  what a runner may use;
* :mod:`~longmod.pipeline.single`, :mod:`~longmod.pipeline.models`,
  :mod:`~longmod.pipeline.prior_grid` - the runners;
* :mod:`~longmod.pipeline.run` - :func:`reanalyse`;
* :mod:`~longmod.pipeline.result` - :class:`Reanalysis` and its output folder;
* :mod:`~longmod.pipeline.init` - the default plan (``longmod plan init``).
"""

from longmod.pipeline.result import Reanalysis
from longmod.pipeline.run import BIOMARKERS, reanalyse

__all__ = ["BIOMARKERS", "Reanalysis", "reanalyse"]
