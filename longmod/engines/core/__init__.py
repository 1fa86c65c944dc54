"""Native Gaussian core: one (RE)ML likelihood for y_i ~ N(X_i b, V_i(theta)).

Modules: :mod:`covariance` (the covariance table), :mod:`likelihood`
(pattern-grouped sufficient statistics, -2 log L and its analytic gradient),
:mod:`optimize` (fallback optimiser sequence + Newton polish),
:mod:`inference` (Satterthwaite, Kenward-Roger, sandwich, BW/residual df),
:mod:`lsmeans` (emmeans-like reference grids, Type III hypotheses) and
:mod:`prepare` (data preparation and result tables shared by all engines).
"""
