"""Do tests/biomarkers/test_bayes.py's pooled assertions hinge on the sampler seed? (README.md, biomarkers.)

Run from the repository root:

    .venv/bin/python benchmarks/biomarker_test_seeds.py 11 12 13      # normal + horseshoe fits per seed
    .venv/bin/python benchmarks/biomarker_test_seeds.py 12n 13n       # the normal model only

Fits the tests' fixtures (8 simulated markers; the samplers of tests/biomarkers/conftest.py)
with each seed and calls the four pooled tests' functions on them, printing PASS/FAIL per
test. For seeds other than 11 the tests' own ``seed == 11`` check fails by construction;
with ``Nn`` the horseshoe tests are not meaningful (they get the normal fit).
"""

import sys
import time

import numpy as np

import tests.biomarkers.conftest as C
import tests.biomarkers.test_bayes as T
from longmod.biomarkers.bayes import fit_pooled
from longmod.biomarkers.simulate import default_effects, simulate_biomarkers

eff = default_effects(8, n_affected=2, size=-0.6)
eight = simulate_biomarkers(8, censor_fractions=np.linspace(0.0, 0.6, 8), effects=eff, seed=31)
for arg in sys.argv[1:]:
    seed = int(arg.rstrip("n"))
    t0 = time.time()
    pooled = fit_pooled(eight, sampler={**C.NORMAL_SAMPLER, "seed": seed}, prior="normal")
    hs = pooled if arg.endswith("n") else fit_pooled(eight, sampler={**C.HORSESHOE_SAMPLER, "seed": seed})
    for name, f in [("normal", pooled), ("horseshoe", hs)]:
        d = f["diagnostics"].iloc[0]
        print(f"seed {seed} {name}: div {d.divergences} max_rhat {d.max_r_hat:.4f} min_ess {d.min_ess_bulk:.0f} "
              f"sample {d.sample_seconds:.0f}s compile {d.compile_seconds:.0f}s", flush=True)
    tests = [("diag_clean", lambda: T.test_pooled_model_diagnostics_are_data_and_clean(pooled)),
             ("finds_decreases", lambda: T.test_pooled_model_finds_the_true_decreases(pooled)),
             ("shrinks", lambda: T.test_pooled_shrinks_null_effects_towards_the_day_mean(pooled, eight)),
             ("hs_default", lambda: T.test_default_prior_is_the_horseshoe_and_unknown_priors_fail(hs, eight)),
             ("hs_sparse", lambda: T.test_horseshoe_recovers_sparse_truth(hs, pooled, eight))]
    for n, fn in tests:
        try:
            fn()
            print(f"  seed {seed} {n}: PASS", flush=True)
        except AssertionError as e:
            print(f"  seed {seed} {n}: FAIL {str(e)[:200]}", flush=True)
    print(f"seed {seed} done in {time.time() - t0:.0f}s", flush=True)
