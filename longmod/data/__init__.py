"""Trial data: the data model (``trial.toml`` v2), loading and validation."""

from longmod.data.load import from_frames, load_trial
from longmod.data.meta import CovariateInfo, EventInfo, TrialMeta, VariableInfo
from longmod.data.trial import MEASUREMENT_COLUMNS, PATIENT_COLUMNS, TrialData
from longmod.data.trial_toml import read_trial_toml
from longmod.data.validate import Problem, TrialDataError, validate_tables

__all__ = [
    "MEASUREMENT_COLUMNS", "PATIENT_COLUMNS", "CovariateInfo", "EventInfo", "Problem", "TrialData",
    "TrialDataError", "TrialMeta", "VariableInfo", "from_frames", "load_trial", "read_trial_toml",
    "validate_tables",
]
