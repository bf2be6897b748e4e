"""The KS p-value: scipy's ``kstwo.sf`` against driftd's ``ks_sf``, per call.

A window whose numeric column drifted has a KS ``D`` in the Smirnov tail
(``n * D**2`` from 2.2 to 370), where scipy sums ``n`` terms one at a time in
double-double arithmetic; ``ks_sf`` sums them in numpy (``smirnov_sf``). An
undrifted column's ``D`` is in the body (``n * D**2`` below 2.2): Durbin's matrix
where ``n * D**1.5 <= 1.4``, Pelz and Good's series above, which ``ks_sf``
evaluates in plain floats (``durbin_cdf``, ``pelz_good_cdf``). ``n`` is
the effective size ``round(w * m / (w + m))`` of a window of ``w`` events against
the baseline's KS sample of ``m`` (5,000 by default).

Usage (from the repository root)::

    .venv/bin/python bench/ks_bench.py [--repeat 20]

Prints, per window size and ``D``: CPU ms per call of each (least of ``--repeat``
runs of a timed loop), the speed-up and the relative difference of the two numbers.
"""

from __future__ import annotations

import argparse
import os
import time

from scipy import stats

from driftd.detectors.ks import ks_sf

SAMPLE = 5_000
WINDOWS = (1_000, 10_000, 100_000)
DS = (0.06, 0.12, 0.25)  # every one in the tail for these n


def _ds(n: int) -> list[tuple[str, float]]:
    """The D of each region for this ``n``: Durbin, Pelz-Good, then the tail."""
    durbin = 0.8 * (1.4 / n) ** (2 / 3)
    pelz_good = (1.0 / n) ** 0.5
    return [("Durbin", durbin), ("Pelz-Good", pelz_good)] + [("tail", d) for d in DS]


def _least_ms(fn: object, repeat: int, calls: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        for _ in range(calls):
            fn()  # type: ignore[operator]
        best = min(best, (time.process_time() - started) / calls)
    return best * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    print(f"load average (1 min) {os.getloadavg()[0]:.2f}; KS sample m = {SAMPLE:,}")
    print(
        "| window w | n | region | D | n·D² | kstwo.sf ms | ks_sf ms | speed-up "
        "| relative difference |\n| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    )
    for w in WINDOWS:
        n = round(w * SAMPLE / (w + SAMPLE))
        for region, d in _ds(n):
            scipy_p, ours = float(stats.kstwo.sf(d, n)), ks_sf(d, n)
            diff = abs(ours - scipy_p) / scipy_p if scipy_p > 0 else abs(ours)
            calls = 3
            old = _least_ms(lambda d=d, n=n: stats.kstwo.sf(d, n), args.repeat, calls)
            new = _least_ms(lambda d=d, n=n: ks_sf(d, n), args.repeat, calls)
            print(
                f"| {w:,} | {n:,} | {region} | {d:.4g} | {n * d * d:.2f} | {old:.3f} | {new:.3f} "
                f"| {old / new:.1f}x | {diff:.1e} |"
            )


if __name__ == "__main__":
    main()
