"""Native Gaussian core: one (RE)ML likelihood for y_i ~ N(X_i b, V_i(theta)).

Modules: :mod:`covariance` (the covariance table), :mod:`likelihood`
(pattern-grouped sufficient statistics or rows, -2 log L and its analytic gradient),
:mod:`information` (analytic observed / expected / average information, Kenward-Roger
sums), :mod:`woodbury` (per-subject layout for random-effects structures, any times),
:mod:`ops` (the operations of both layouts),
:mod:`optimize` (Newton-Raphson with the analytic Hessian, fallback optimiser sequence),
:mod:`inference` (Satterthwaite, Kenward-Roger, sandwich, BW/residual df),
:mod:`lsmeans` (emmeans-like reference grids, Type III hypotheses) and
:mod:`prepare` (data preparation and result tables shared by all engines).
"""
