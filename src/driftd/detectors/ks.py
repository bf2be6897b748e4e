"""Two-sample Kolmogorov-Smirnov test of a window against the baseline's reference sample.

The window is counted once, vectorised, on the grid of the reference sample's
distinct values (:func:`driftd.detectors.window.grid_counts`); both empirical
CDFs are then known just below and at every grid point, which is where the
supremum of their difference lies, so ``D`` is exact — the same number
``scipy.stats.ks_2samp`` computes from the raw values. The p-value is Smirnov's
asymptotic one, as scipy computes it for large samples:
``scipy.stats.kstwo.sf(D, round(n * m / (n + m)))`` (:func:`ks_sf`), with its
tail (a drifted column) summed in numpy (:func:`smirnov_sf`).

>>> import numpy as np
>>> from driftd.detectors.profiles import NumericProfile
>>> ref = NumericProfile("x", [0.5], [0.5, 0.5], [0.0, 1.0], 2, 0.0, 0.0, 1.0, 0.5, 0.7)
>>> w = ColumnWindow("x", 2, np.array([0, 2]), 0, 0, grid=np.array([0, 0, 0, 0, 0, 2, 0]))
>>> KSTest().judge(ref, w).value  # all of the window at 1.0: D = 0.5
0.5
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import numpy.typing as npt
from scipy import special, stats

from driftd.detectors.base import ColumnKind, ColumnWindow, Finding
from driftd.detectors.profiles import NumericProfile, Profile
from driftd.detectors.reference import PerReference, reference_grid

__all__ = ["KSTest", "durbin_cdf", "ks_sf", "ks_statistic", "pelz_good_cdf", "smirnov_sf"]

try:  # the function behind ``kstwo.sf``, called without the distribution's machinery
    from scipy.stats._ksstats import _kolmogn
except ImportError:  # pragma: no cover - a scipy without it: kstwo.sf itself
    _kolmogn = None


_SMIRNOV_TAIL = 2.2
"""``n * d**2`` from which scipy's ``kstwo.sf`` (for ``n > 140``, ``d < 0.5``) is twice
the one-sided tail ``smirnov(n, d)``; from ``_SMIRNOV_ZERO`` on it is 0."""
_SMIRNOV_ZERO = 370.0
_SMIRNOV_TERMS = 100_000
"""Above this ``n`` the tail is left to scipy: ``log C(n, j)`` from ``gammaln`` loses
~``eps * n log n``, more than 1e-9 relative past a few hundred thousand."""
_DURBIN_N = 100_000
"""Up to this ``n`` (and for ``n * d**1.5 <= 1.4``) scipy's body is Durbin's matrix, else
Pelz-Good."""
_SCALE = 2.0**128
_UNSCALE = 2.0**-128
_PI_SQUARED = math.pi**2
_PI_FOUR = math.pi**4
_PI_SIX = math.pi**6
_SQRT2PI = math.sqrt(2 * math.pi)
_SQRT3 = math.sqrt(3)
_LN2 = math.log(2)
_STIRLING_N = 140
"""Above this ``n``, ``n! / n**n`` is Stirling's series (its error far below 1e-16)."""
_LOG_2PI = math.log(2 * math.pi)
_STIRLING_COEFFS = (
    -2.955065359477124183e-2,
    6.4102564102564102564e-3,
    -1.9175269175269175269e-3,
    8.4175084175084175084e-4,
    -5.952380952380952381e-4,
    7.9365079365079365079e-4,
    -2.7777777777777777778e-3,
    8.3333333333333333333e-2,
)
"""``B_2j / (2j (2j - 1))`` for ``j = 8 .. 1`` (``B``: Bernoulli numbers), as scipy has them."""


def ks_sf(d: float, n: int) -> float:
    """``scipy.stats.kstwo.sf(d, n)``: the same number, at a fraction of the cost.

    Inside the distribution's open support ``(1 / 2n, 1)`` it is the function
    ``kstwo.sf`` evaluates there (scipy's ``_kolmogn``), called directly: the
    argument checks and broadcasting of ``rv_continuous`` cost twice the
    computation. In its tail (``140 < n <= 100,000``, ``d < 0.5``, ``n * d**2`` from 2.2 to
    370: where a drifted column's ``D`` lies), ``_kolmogn`` is
    ``2 * scipy.special.smirnov(n, d)``, an ``n``-term sum scipy adds one term at a
    time in double-double arithmetic (~8 ms for ``n = 6,667``, once per drifted
    column and window); :func:`smirnov_sf` adds the same terms in numpy (~0.4 ms),
    equal to 1e-9 relative. In its body (``n > 140``, ``n * d**2`` below 2.2: an
    undrifted column's ``D``), ``1 -`` scipy's Durbin matrix or Pelz-Good series, which
    :func:`durbin_cdf` and :func:`pelz_good_cdf` compute in plain floats (~8x and
    ~10x faster), equal to 1e-9 relative. At and beyond the support's ends, for ``n < 1`` (a
    one-value window against a one-value sample rounds to 0), and without that
    function, ``kstwo.sf`` itself.

    >>> ks_sf(0.005, 6667) == float(stats.kstwo.sf(0.005, 6667))
    True
    >>> bool(np.isclose(ks_sf(0.02, 6667), stats.kstwo.sf(0.02, 6667), rtol=1e-9, atol=0))
    True
    """
    if _kolmogn is not None and n >= 1 and 0.5 / n < d < 1.0:
        tail = n * d * d
        if n > 140 and d < 0.5 and n * d > 1.0:
            if tail < _SMIRNOV_TAIL:  # the body: 1 - the CDF
                if n <= _DURBIN_N and n * d**1.5 <= 1.4:
                    cdf = durbin_cdf(n, d)
                else:
                    cdf = pelz_good_cdf(n, d)
                return min(max(1.0 - cdf, 0.0), 1.0)
            if n <= _SMIRNOV_TERMS:
                return 0.0 if tail >= _SMIRNOV_ZERO else min(2.0 * smirnov_sf(n, d), 1.0)
        return float(_kolmogn(n, d, cdf=False))
    return float(stats.kstwo.sf(d, n))


def pelz_good_cdf(n: int, x: float) -> float:
    """scipy's ``_kolmogn_PelzGood(n, x)``: Pelz and Good's approximation of ``P(D_n <= x)``.

    The same series, term for term and in the same order, in plain floats: scipy
    builds numpy arrays of four elements for every term (~0.1 ms a call); here it
    is ~10 us. Equal to scipy's to 1e-9 relative (numpy's ``exp`` and ``pow`` may
    round an ulp apart from the ``math`` module's).

    >>> from scipy.stats._ksstats import _kolmogn_PelzGood
    >>> bool(np.isclose(pelz_good_cdf(833, 0.03), _kolmogn_PelzGood(833, 0.03), rtol=1e-9))
    True
    """
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    z = math.sqrt(n) * x
    zsquared, zthree, zfour, zsix = z**2, z**3, z**4, z**6
    if zsquared == 0.0:
        return 0.0
    qlog = -_PI_SQUARED / 8 / zsquared
    if qlog < -708:  # z below ~0.0417
        return 0.0
    q = math.exp(qlog)
    k1a = -zsquared
    k1b = _PI_SQUARED / 4
    k2a = 6 * zsix + 2 * zfour
    k2b = (2 * zfour - 5 * zsquared) * _PI_SQUARED / 4
    k2c = _PI_FOUR * (1 - 2 * zsquared) / 16
    k3d = _PI_SIX * (5 - 30 * zsquared) / 64
    k3c = _PI_FOUR * (-60 * zsquared + 212 * zfour) / 16
    k3b = _PI_SQUARED * (135 * zfour - 96 * zsix) / 4
    k3a = -30 * zsix - 90 * z**8
    k0 = k1 = k2 = k3 = 0.0
    maxk = math.ceil(16 * z / math.pi)
    for k in range(maxk, 0, -1):  # Horner in q**8k over the odd m = 2k - 1
        m = 2 * k - 1
        msquared, mfour, msix = m**2, m**4, m**6
        qpower = q ** (8 * k)
        k0 = k0 * qpower + 1.0
        k1 = k1 * qpower + (k1a + k1b * msquared)
        k2 = k2 * qpower + (k2a + k2b * msquared + k2c * mfour)
        k3 = k3 * qpower + (k3a + k3b * msquared + k3c * mfour + k3d * msix)
    k0 = k0 * q * _SQRT2PI / z
    k1 = k1 * q * _SQRT2PI / (6 * zfour)
    k2 = k2 * q * _SQRT2PI / (72 * z**7)
    k3 = k3 * q * _SQRT2PI / (6480 * z**10)
    q = math.exp(-_PI_SQUARED / 2 / zsquared)  # the terms over every k
    sqrt3z = _SQRT3 * z
    k2extra = k3extra = 0.0
    for k in range(maxk, 0, -1):
        ksquared = k**2
        qk = q**ksquared
        kspi = math.pi * k
        k2extra += ksquared * qk
        k3extra += (sqrt3z + kspi) * (sqrt3z - kspi) * ksquared * qk
    k2 += k2extra * (_PI_SQUARED * _SQRT2PI / (-36 * zthree))
    k3 += k3extra * (_PI_SQUARED * _SQRT2PI / (216 * zsix))
    nf = float(n)
    root: float = nf**0.5  # pow, as numpy's power of n to 0.5 and 1.5
    root3: float = nf**1.5
    return 0 + k0 + k1 / root + k2 / nf + k3 / root3


def durbin_cdf(n: int, x: float) -> float:
    """scipy's ``_kolmogn_DMTW(n, x)``: ``P(D_n <= x)`` by Durbin's matrix (Marsaglia,
    Tsang and Wang), for ``1 / 2n < x < 1``.

    The matrix and its power are scipy's, in the same numpy operations, but the power
    is scaled as the matrix is (scipy's overflows for some ``n``: 63,984 with ``n x``
    ~20.5, a CDF of 1 for one ~1e-79); the
    factor ``n! / n**n``, which scipy multiplies in one ``i / n`` at a time in numpy
    scalars (~0.5 ms a call for ``n = 833``), is Stirling's series in logs here
    (:func:`_log_factorial_over_power`) for ``n > 140``, that product in plain floats
    below. Equal to scipy's to 1e-9 relative.

    >>> from scipy.stats._ksstats import _kolmogn_DMTW
    >>> bool(np.isclose(durbin_cdf(833, 0.01), _kolmogn_DMTW(833, 0.01), rtol=1e-9))
    True
    """
    if x >= 1.0:
        return 1.0
    nd = n * x
    if nd <= 0.5:
        return 0.0
    k = math.ceil(nd)
    h = k - nd
    m = 2 * k - 1
    v = 1.0 - h ** np.arange(1, m + 1)
    w = np.empty(m)
    fac = 1.0
    for j in range(1, m + 1):  # w[j - 1] = 1 / (j - 1)!, v[j - 1] /= j!
        w[j - 1] = fac
        fac /= j
        v[j - 1] *= fac
    tt = max(2 * h - 1.0, 0) ** m - 2 * h**m
    v[-1] = (1.0 + tt) * fac
    matrix = np.zeros((m, m))
    for i in range(1, m):
        matrix[i - 1 :, i] = w[: m - i + 1]
    matrix[:, 0] = v
    matrix[-1, :] = v[::-1]
    power = np.eye(m)
    expnt = 0
    hexpnt = 0
    nn = n
    while nn > 0:
        if nn % 2:
            power = power @ matrix
            expnt += hexpnt
            if abs(power[k - 1, k - 1]) > _SCALE:  # scipy leaves it, and it can overflow
                power *= _UNSCALE
                expnt += 128
        matrix = matrix @ matrix
        hexpnt *= 2
        if abs(matrix[k - 1, k - 1]) > _SCALE:
            matrix *= _UNSCALE
            hexpnt += 128
        nn //= 2
    p = float(power[k - 1, k - 1])
    if n <= _STIRLING_N:  # times n! / n**n, one i / n at a time as scipy does
        for i in range(1, n + 1):
            p = i * p / n
            if abs(p) < _UNSCALE:
                p *= _SCALE
                expnt -= 128
        return min(max(math.ldexp(p, expnt), 0.0), 1.0)
    factor = _log_factorial_over_power(n)  # n! / n**n = e**factor = 2**twos * e**rest
    twos = math.floor(factor / _LN2)
    rest = factor - twos * _LN2
    p = math.ldexp(p * math.exp(rest), expnt + twos)
    return min(max(p, 0.0), 1.0)


def _log_factorial_over_power(n: int) -> float:
    """``log(n! / n**n)`` by Stirling's series with ``n log n`` taken out first (scipy's
    ``_log_nfactorial_div_n_pow_n``): within ~``n`` ulps of 1, not ``n log n``.

    >>> round(math.exp(_log_factorial_over_power(5)) * 5**5, 9)
    120.0
    """
    rn = 1.0 / n
    series = 0.0
    for c in _STIRLING_COEFFS:
        series = series * (rn / n) + c
    return math.log(n) / 2 - n + _LOG_2PI / 2 + rn * series


def smirnov_sf(n: int, d: float) -> float:
    """``scipy.special.smirnov(n, d)``: ``P(D+ >= d)`` of ``n`` values, ``0 < d < 1``.

    The Birnbaum-Tingey sum ``d * sum_j C(n, j) (1 - d - j/n)**(n - j) (d + j/n)**(j - 1)``
    over ``j = 0 .. floor(n (1 - d))``, every term in logs (``gammaln``) and added from
    the largest: its terms are all positive, so nothing cancels.

    >>> bool(np.isclose(smirnov_sf(1000, 0.05), special.smirnov(1000, 0.05), rtol=1e-9))
    True
    """
    j = np.arange(int(np.floor(n * (1.0 - d))) + 1, dtype=np.float64)
    rest = np.maximum(1.0 - d - j / n, 0.0)  # 0 (not a rounding below it) at the last j
    with np.errstate(divide="ignore"):  # log(0): a term of 0
        logs = (
            special.gammaln(n + 1.0)
            - special.gammaln(j + 1.0)
            - special.gammaln(n - j + 1.0)
            + (n - j) * np.log(rest)
            + (j - 1.0) * np.log(d + j / n)
        )
    top = float(logs.max())
    return float(d * np.exp(top) * np.exp(logs - top).sum())


def ks_statistic(
    reference_cells: npt.NDArray[np.int64], window_cells: npt.NDArray[np.int64]
) -> float:
    """``D`` from two samples counted on the same grid cells."""
    return _ks_distance(cumulative_shares(reference_cells), window_cells)


def cumulative_shares(cells: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """The empirical CDF of a sample counted on grid cells, at the end of every cell."""
    shares: npt.NDArray[np.float64] = np.cumsum(cells) / cells.sum()
    return shares


def _ks_distance(
    reference_cdf: npt.NDArray[np.float64], window_cells: npt.NDArray[np.int64]
) -> float:
    return float(np.abs(reference_cdf - cumulative_shares(window_cells)).max())


def _cells_and_cdf(
    reference: NumericProfile,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """The reference's cells and their cumulative shares (its CDF)."""
    _, cells = reference_grid(reference)
    return cells, cumulative_shares(cells)


class KSTest:
    """KS ``D`` (the effect size) and its asymptotic p-value, numeric columns only."""

    name: ClassVar[str] = "ks"
    kinds: ClassVar[frozenset[ColumnKind]] = frozenset({"numeric"})

    def __init__(self) -> None:
        self._reference = PerReference(_cells_and_cdf)

    def reference_cells(self, reference: NumericProfile) -> npt.NDArray[np.int64]:
        """The reference sample on the column's grid (odd cells: multiplicities); cached."""
        return self._reference(reference)[0]

    def judge(self, reference: Profile, window: ColumnWindow) -> Finding | None:
        if not isinstance(reference, NumericProfile) or window.grid is None:
            return None
        n = int(window.grid.sum())
        if n == 0:
            return None
        ref, ref_cdf = self._reference(reference)
        if ref.shape != window.grid.shape:
            raise ValueError(f"window of {window.name!r} was counted on another grid")
        d = _ks_distance(ref_cdf, window.grid)
        m = len(reference.sample)
        p = ks_sf(d, round(n * m / (n + m)))
        return Finding(self.name, d, min(max(p, 0.0), 1.0), d)
