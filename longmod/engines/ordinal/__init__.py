"""Ordinal-outcome engines (e.g. a WHO clinical progression scale), R ``ordinal`` conventions.

* :mod:`~longmod.engines.ordinal.design` - :func:`ordinal_data` validates the
  response against the declared scale and builds the design;
* :mod:`~longmod.engines.ordinal.cumlogit` - proportional-odds model on one
  day (:func:`fit_clm`, as ``ordinal::clm`` / ``MASS::polr``) and with a random
  intercept per patient (:func:`fit_clmm`, Laplace or adaptive Gauss-Hermite,
  as ``ordinal::clmm``); :func:`ordinal_rows` reports the odds ratio of a
  better category with the direction stated;
* :mod:`~longmod.engines.ordinal.bayes` - the same model in PyMC with P(OR > 1)
  (:func:`bayes_ordinal_rows`).
"""
