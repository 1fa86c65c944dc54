"""Trial data: the data model, loading and validation."""

from longmod.data.load import from_frames, load_trial
from longmod.data.trial import MEASUREMENT_COLUMNS, PATIENT_COLUMNS, TrialData, TrialMeta, VariableInfo
from longmod.data.validate import Problem, TrialDataError, validate_tables

__all__ = [
    "MEASUREMENT_COLUMNS", "PATIENT_COLUMNS", "Problem", "TrialData", "TrialDataError", "TrialMeta",
    "VariableInfo", "from_frames", "load_trial", "validate_tables",
]
