#!/usr/bin/env python
"""How the cost of one simulated ESSOP update scales with BL, K and n x m (fitted exponents).

Times ``essop_outer_product`` (default configuration, vector sharing, float32 operands x =
max(0, N(0, 1)), delta = N(0, 1) * 1e-3) while one factor varies and the others stay at a base
point (BL 64, K 256, n x m = 256 x 256), min of ``--repeat`` after a warm-up call. For each
factor it fits ``seconds ~ c * factor^e`` by least squares on log-log points and prints e, over
the whole grid and over its last three points: 1.0 means the cost is proportional to the
factor, below 1 that fixed costs still show. Work is
m * n * K * ceil(BL / 64) packed words of AND + popcount in the kernel, so an ideal kernel has
e = 1 in K and in n x m, and in BL at most 1 (BL / 64 words; below 64, packed outer products).

Usage::

    python scripts/bench_scaling.py                  # the default grids, 2 threads
    python scripts/bench_scaling.py --repeat 7 --threads 1
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
from benchinfo import command_line, load_average, machine_line

BASE = {"bl": 64, "k": 256, "nm": 256}
GRIDS = {
    "bl": [8, 16, 32, 64, 128, 256, 512],
    "k": [64, 128, 256, 512, 1024, 2048],
    "nm": [64, 128, 256, 512, 1024],  # n = m = this, so n x m grows as its square
}


def time_update(bl: int, k: int, n: int, m: int, repeat: int) -> float:
    """Min seconds of essop_outer_product for one update of shape K x n x m at BL."""
    from essop_sim.config import HardwareConfig
    from essop_sim.datapaths.essop.numerics import essop_outer_product

    base = HardwareConfig()
    cfg = dataclasses.replace(base, essop=dataclasses.replace(base.essop, bitstream_length=bl))
    rng = np.random.default_rng(bl * 7919 + k * 31 + n)
    x = np.maximum(rng.standard_normal((k, n), dtype=np.float32), 0)
    d = rng.standard_normal((k, m), dtype=np.float32) * np.float32(1e-3)
    essop_outer_product(x, d, cfg, 0)
    best = float("inf")
    for r in range(repeat):
        t0 = time.perf_counter()
        essop_outer_product(x, d, cfg, r + 1)
        best = min(best, time.perf_counter() - t0)
    return best


def fitted_exponent(sizes: list[float], seconds: list[float]) -> float:
    """Slope of log(seconds) against log(sizes) (least squares)."""
    return float(np.polyfit(np.log(sizes), np.log(seconds), 1)[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed repetitions (min kept)")
    parser.add_argument("--threads", type=int, default=2, help="numba threads")
    args = parser.parse_args(argv)
    import numba

    numba.set_num_threads(args.threads)
    print("command:", command_line())
    print("machine:", machine_line())
    print(f"numba {numba.__version__}, {numba.get_num_threads()} threads; base point BL "
          f"{BASE['bl']}, K {BASE['k']}, n = m = {BASE['nm']}")
    for factor, grid in GRIDS.items():
        sizes, seconds = [], []
        for v in grid:
            p = dict(BASE, **{factor: v})
            s = time_update(p["bl"], p["k"], p["nm"], p["nm"], args.repeat)
            size = v * v if factor == "nm" else v
            sizes.append(size)
            seconds.append(s)
            words = p["nm"] * p["nm"] * p["k"] * ((p["bl"] + 63) // 64)
            print(f"  {factor}={v:<6} {s * 1e3:9.3f} ms  ({words / s / 1e9:.2f} G words/s)",
                  flush=True)
        name = "n x m" if factor == "nm" else factor.upper()
        print(f"{name}: seconds ~ {name}^{fitted_exponent(sizes, seconds):.2f} over "
              f"{grid[0]}..{grid[-1]}, ^{fitted_exponent(sizes[-3:], seconds[-3:]):.2f} over "
              f"the last three points{' (n = m)' if factor == 'nm' else ''}")
    print("load average after:", load_average())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
