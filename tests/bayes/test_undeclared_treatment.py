"""A Bayesian model spec without a declared comparison stops with a clear error (not levels named 'None')."""

from __future__ import annotations

import pandas as pd
import pytest

from longmod.engines.bayes.design import bayes_design
from longmod.spec.model import ModelSpec, SpecError


def test_a_spec_without_arms_names_what_to_declare():
    data = pd.DataFrame({"y": [1.0, 2.0, 3.0, 4.0], "arm": ["a", "b", "a", "b"], "id": ["1", "2", "3", "4"]})
    spec = ModelSpec(name="m", engine="pymc", outcome="y", fixed="arm", subject="id")
    with pytest.raises(SpecError, match=r"no treatment comparison declared: give \[model.treatment\]"):
        bayes_design(spec, data)
