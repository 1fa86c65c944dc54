"""Engine-free declarations: model specs, estimands, analysis plans."""

from longmod.spec.model import ModelSpec, SpecError, Treatment, load_model_spec

__all__ = ["ModelSpec", "SpecError", "Treatment", "load_model_spec"]
