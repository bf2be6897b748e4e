"""Detectors: baselines (training-data profiles), PSI, and per-window bin counts.

Pure computation: nothing here does I/O except reading a training file.
"""

from driftd.detectors.baseline import (
    ProfileOptions,
    is_numeric_dtype,
    profile_dataframe,
    profile_file,
)
from driftd.detectors.profiles import (
    PREDICTION_KEY,
    BaselineProfile,
    CategoricalProfile,
    NumericProfile,
    Profile,
    profile_from_dict,
)
from driftd.detectors.psi import PSI_PSEUDOCOUNT, psi
from driftd.detectors.window import Binner, WindowCounts, window_psi

__all__ = [
    "PREDICTION_KEY",
    "PSI_PSEUDOCOUNT",
    "BaselineProfile",
    "Binner",
    "CategoricalProfile",
    "NumericProfile",
    "Profile",
    "ProfileOptions",
    "WindowCounts",
    "is_numeric_dtype",
    "profile_dataframe",
    "profile_file",
    "profile_from_dict",
    "psi",
    "window_psi",
]
