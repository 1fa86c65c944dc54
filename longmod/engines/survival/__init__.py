"""Time-to-event engines: pure functions, patient tables in, common-schema rows out.

* :mod:`~longmod.engines.survival.data` - :func:`survival_data` validates the
  time, event-code, arm and strata columns once;
* :mod:`~longmod.engines.survival.km` - Kaplan-Meier curves, medians with R's
  CI, survival at a day (:func:`survival_rows`), numbers at risk, restricted
  mean survival time (:func:`km_rows`);
* :mod:`~longmod.engines.survival.logrank` - log-rank, Gehan-Breslow,
  Tarone-Ware and Peto-Peto tests, stratified or not (:func:`logrank_rows`);
* :mod:`~longmod.engines.survival.cox` - Cox model with Efron ties, strata,
  covariates, cause-specific hazards; infinite estimates reported as such
  (:func:`cox_rows`);
* :mod:`~longmod.engines.survival.clogit` - conditional logistic regression
  and the exact conditional test for matched sets (:func:`clogit_rows`);
* :mod:`~longmod.engines.survival.competing` - Aalen-Johansen cumulative
  incidence with Gray's variance (:func:`cif_rows`);
* :mod:`~longmod.engines.survival.fine_gray` - the Fine-Gray subdistribution
  hazard ratio with censoring weights (:func:`fine_gray_rows`).

Validated against R ``survival`` and ``cmprsk`` in ``tests/reference/survival``.
Submodules import statsmodels lazily, inside the functions that need it.
"""
