"""The explicit registry of detectors: a name to a class, no import-time decoration.

Adding a window test is one module and one line here. ``DEFAULT_TESTS`` is
the suite run when a model's settings name none; ``js`` and ``wasserstein`` are options.

>>> sorted(DEFAULT_TESTS) == sorted(set(DEFAULT_TESTS) & set(WINDOW_TESTS))
True
"""

from __future__ import annotations

from collections.abc import Mapping

from driftd.detectors.adwin import ADWINDetector
from driftd.detectors.base import StreamDetector, WindowTest
from driftd.detectors.chi2 import ChiSquareTest
from driftd.detectors.jensen_shannon import JensenShannonTest
from driftd.detectors.ks import KSTest
from driftd.detectors.kswin import KSWINDetector
from driftd.detectors.page_hinkley import PageHinkleyDetector
from driftd.detectors.psi import PSITest
from driftd.detectors.quality import MissingRate, OutOfRange, TypeMismatch, UnseenCategories
from driftd.detectors.spread import SpreadTest
from driftd.detectors.wasserstein import WassersteinTest

__all__ = ["DEFAULT_TESTS", "STREAM_DETECTORS", "WINDOW_TESTS"]

WINDOW_TESTS: Mapping[str, type[WindowTest]] = {
    "psi": PSITest,
    "ks": KSTest,
    "chi2": ChiSquareTest,
    "js": JensenShannonTest,
    "spread": SpreadTest,
    "wasserstein": WassersteinTest,
    "missing_rate": MissingRate,
    "type_mismatch": TypeMismatch,
    "unseen": UnseenCategories,
    "out_of_range": OutOfRange,
}

DEFAULT_TESTS: tuple[str, ...] = (
    "psi",
    "ks",
    "chi2",
    "spread",
    "missing_rate",
    "type_mismatch",
    "unseen",
    "out_of_range",
)

STREAM_DETECTORS: Mapping[str, type[StreamDetector]] = {
    "adwin": ADWINDetector,
    "page_hinkley": PageHinkleyDetector,
    "kswin": KSWINDetector,
}
