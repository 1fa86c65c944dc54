"""Per-parameter convergence diagnostics of the pooled biomarker model (biomarkers section of README.md).

Run from the repository root:

    .venv/bin/python benchmarks/biomarker_pooled_diagnostics.py fixture        # the main job's 48 markers
    .venv/bin/python benchmarks/biomarker_pooled_diagnostics.py eight '{"draws": 500, "tune": 800, "seed": 11}'

``fixture``: the STROMA-CoV-2 fixture's markers (SYNTHETIC), as the biomarker section
builds them; ``eight``: the tests' 8 simulated markers; ``48``: ``simulate_biomarkers(48)``.
The optional JSON overrides the default sampler; ``PRIOR=normal`` in the environment
fits the normal population model. Prints divergences, max R-hat and min bulk ESS over
every sampled parameter, then per parameter group.
"""

import json
import os
import sys
import time

import arviz as az
import numpy as np

from longmod.biomarkers.bayes import fit_pooled

which = sys.argv[1]
sampler = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
arms = {}
if which == "fixture":
    from longmod.biomarkers.section import biomarker_frame
    from longmod.data import load_trial
    from longmod.resources import fixtures_dir

    data = load_trial(fixtures_dir() / "stroma_cov2")
    frame = biomarker_frame(data, None)
    arms = {"active": data.meta.active_arms[0], "reference": data.meta.reference_arm}
else:
    from longmod.biomarkers.simulate import default_effects, simulate_biomarkers

    if which == "eight":
        eff = default_effects(8, n_affected=2, size=-0.6)
        frame = simulate_biomarkers(8, censor_fractions=np.linspace(0.0, 0.6, 8), effects=eff, seed=31)
    else:
        frame = simulate_biomarkers(48, seed=20240607)
t0 = time.time()
out = fit_pooled(frame, sampler=sampler, prior=os.environ.get("PRIOR", "horseshoe"), **arms)
d = out["diagnostics"].iloc[0]
print(which, sampler, d[["prior", "divergences", "max_r_hat", "min_ess_bulk", "compile_seconds", "sample_seconds",
                         "backend"]].to_dict(), f"wall {time.time() - t0:.1f} s, load {os.getloadavg()[0]:.1f}")
for v in ["tau", "lambda", "c2", "mu", "z", "dev", "sigma", "sigma_b", "b"]:
    if v in out["idata"].posterior:
        s = az.summary(out["idata"], var_names=[v], kind="diagnostics", round_to="none")
        print(f"  {v:8s} max R-hat {s.r_hat.max():.3f}  min bulk ESS {s.ess_bulk.min():.0f}")
