"""ancova_batch with a categorical covariate: every column equals fit_ancova of that column (regression test:
the batch used to look the indicator terms up as data columns and failed)."""

import numpy as np
import pandas as pd

from longmod.engines.ancova import fit_ancova
from longmod.estimands.ancova_batch import ancova_batch
from longmod.spec.model import Treatment


def test_categorical_covariates_enter_as_indicators_as_in_fit_ancova():
    rng = np.random.default_rng(3)
    n = 30
    d = pd.DataFrame({"arm": np.where(np.arange(n) % 2, "t", "c"), "x": rng.normal(size=n),
                      "site": pd.Categorical(np.array(["a", "b", "c"])[np.arange(n) % 3], categories=["a", "b", "c"]),
                      "const": 1.0})
    y = rng.normal(size=(n, 3)) + (d["arm"] == "t").to_numpy()[:, None]
    tr = Treatment("arm", "c", "t")
    cov = ["x", "site", "const"]
    b = ancova_batch(d, y, treatment=tr, covariates=cov)
    for j in range(3):
        f = fit_ancova(d.assign(out=y[:, j]), treatment=tr, outcome="out", covariates=cov)
        # columns 1.. come from one QR solve, column 0 is fit_ancova itself: equal to rounding (rtol 1e-10)
        np.testing.assert_allclose([b.estimate[j], b.std_error[j], b.p_value[j]], [f.estimate, f.std_error, f.p_value],
                                   rtol=1e-10)
        assert b.df == f.df
