"""Joint longitudinal-survival model (Bayesian, PyMC): a trajectory and cause-specific hazards sharing random effects.

* :mod:`~longmod.engines.joint.data`: input checks, per-patient sufficient statistics, packing;
* :mod:`~longmod.engines.joint.model`: the PyMC graph (closed-form hazards, random effects conditioned on the measurements);
* :mod:`~longmod.engines.joint.fit`: :func:`~longmod.engines.joint.fit.fit_joint_model`, common-schema rows;
* :mod:`~longmod.engines.joint.simulate`: the seeded simulator behind the validation study.

Nothing heavy is imported here; PyMC is imported when a model is built.
"""
