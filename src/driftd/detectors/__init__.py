"""Detectors: pure statistics over baseline profiles and window counts.

Window tests (PSI, KS, chi-square, Jensen-Shannon, data quality) judge one
column of a closed window against its baseline profile; stream detectors
(ADWIN) are fed batch by batch; :mod:`~driftd.detectors.verdict` turns
findings into severities. The registry names them all. Nothing here does I/O
except reading a training file, and nothing imports storage.
"""

from driftd.detectors.adwin import ADWINDetector
from driftd.detectors.base import ColumnKind, ColumnWindow, Finding, StreamDetector, WindowTest
from driftd.detectors.baseline import (
    PREDICTED_CLASS,
    ProfileOptions,
    is_numeric_dtype,
    profile_dataframe,
    profile_file,
)
from driftd.detectors.chi2 import ChiSquareTest
from driftd.detectors.jensen_shannon import JensenShannonTest, js_distance
from driftd.detectors.ks import KSTest, ks_statistic
from driftd.detectors.kswin import KSWINDetector
from driftd.detectors.page_hinkley import PageHinkleyDetector
from driftd.detectors.perf_verdict import PerformancePolicy, bootstrap_interval, drop, wilson
from driftd.detectors.performance import (
    HIGHER_IS_BETTER,
    binary_auc,
    calibration_error,
    classification_metrics,
    regression_metrics,
)
from driftd.detectors.profiles import (
    PREDICTION_KEY,
    BaselineProfile,
    CategoricalProfile,
    NumericProfile,
    Profile,
    profile_from_dict,
)
from driftd.detectors.psi import PSI_PSEUDOCOUNT, PSITest, psi, psi_p_value
from driftd.detectors.quality import (
    MissingRate,
    OutOfRange,
    TypeMismatch,
    UnseenCategories,
    binomial_excess,
)
from driftd.detectors.registry import DEFAULT_TESTS, STREAM_DETECTORS, WINDOW_TESTS
from driftd.detectors.river_base import RiverDetector
from driftd.detectors.spread import SpreadTest
from driftd.detectors.verdict import (
    DEFAULT_RULES,
    Correction,
    Persistence,
    Policy,
    Rule,
    Verdict,
    adjust,
    severities,
)
from driftd.detectors.wasserstein import WassersteinTest
from driftd.detectors.window import Binner, WindowCounts, grid_counts, score_values, window_psi

__all__ = [
    "DEFAULT_RULES",
    "DEFAULT_TESTS",
    "HIGHER_IS_BETTER",
    "PREDICTED_CLASS",
    "PREDICTION_KEY",
    "PSI_PSEUDOCOUNT",
    "STREAM_DETECTORS",
    "WINDOW_TESTS",
    "ADWINDetector",
    "BaselineProfile",
    "Binner",
    "CategoricalProfile",
    "ChiSquareTest",
    "ColumnKind",
    "ColumnWindow",
    "Correction",
    "Finding",
    "JensenShannonTest",
    "KSTest",
    "KSWINDetector",
    "MissingRate",
    "NumericProfile",
    "OutOfRange",
    "PSITest",
    "PageHinkleyDetector",
    "PerformancePolicy",
    "Persistence",
    "Policy",
    "Profile",
    "ProfileOptions",
    "RiverDetector",
    "Rule",
    "SpreadTest",
    "StreamDetector",
    "TypeMismatch",
    "UnseenCategories",
    "Verdict",
    "WassersteinTest",
    "WindowCounts",
    "WindowTest",
    "adjust",
    "binary_auc",
    "binomial_excess",
    "bootstrap_interval",
    "calibration_error",
    "classification_metrics",
    "drop",
    "grid_counts",
    "is_numeric_dtype",
    "js_distance",
    "ks_statistic",
    "profile_dataframe",
    "profile_file",
    "profile_from_dict",
    "psi",
    "psi_p_value",
    "regression_metrics",
    "score_values",
    "severities",
    "wilson",
    "window_psi",
]
