"""Meta-analysis engines: study-level estimates in, common-schema rows out.

* :mod:`~longmod.engines.meta.convert` - published summaries to effect + SE
  (mean difference, estimate + CI, log odds ratio from counts with a stated
  zero-cell correction, median/IQR or range to mean/SD, SD of a change);
* :mod:`~longmod.engines.meta.frequentist` - random-effects meta-analysis
  (REML or DerSimonian-Laird, z or Knapp-Hartung, I^2, prediction interval),
  as R ``metafor::rma`` (:func:`meta_rows`);
* :mod:`~longmod.engines.meta.priors` - heterogeneity priors: half-normal on
  tau, Turner et al. (2015) log-normal on tau^2;
* :mod:`~longmod.engines.meta.bayes` - Bayesian random-effects model in PyMC
  (:func:`bayes_meta_rows`): mean effect, tau, P(benefit), prediction
  interval for a new trial.
"""
