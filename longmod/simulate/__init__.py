"""Trial simulation and operating characteristics (``longmod simulate``).

A *scenario* (:mod:`~longmod.simulate.scenario`, TOML in ``models/scenarios/``)
declares how trials are generated (arms, sizes, effects, trajectories, death
and ICU discharge, the intercurrent-event rules) and which analyses to compare.
:func:`~longmod.simulate.run.run_simulation` simulates and analyses the trials
on Dask (a ``LocalCluster`` by default, or a running cluster), checkpointed and
seeded per trial, and :mod:`~longmod.simulate.summary` turns them into
rejection rate, bias, RMSE, coverage and CI width with Monte Carlo SEs.
A scenario can be derived from a trial's data (:mod:`~longmod.simulate.derive`).

Nothing heavy is imported here: import the submodules.
"""
