#!/usr/bin/env python
"""ESSOP stream construction (LFSR + comparators) and accumulation on 1 thread, on all numba
threads, and as essop_sim.numerics.threads chooses, optionally beside busy-loop processes.

For each update size K x n x m (BL 64, vector sharing, random normal operands), runs
``essop_outer_product`` ``--repeat`` times per mode, interleaved, and prints the min (and
median) seconds of its 'streams' phase (random numbers + comparators) and of the whole update,
with the work measure the policy uses (K * (n*m*W + (n+m)*BL) word operations, W = BL/64) and
the threads the policy chose. Modes: ``1`` (one thread), ``N`` (numba's thread count, forced even
for small work), ``policy`` (the default: work size and free cores).

``--busy B`` starts B single-threaded busy loops (``python -c "while True: pass"``) first and
stops them (by their process ids) at the end: the load of a shared machine, made repeatable.
Run from the repository root::

    python scripts/bench_stream_threads.py                    # as the machine is
    python scripts/bench_stream_threads.py --busy 1           # one core taken by a busy loop
    python scripts/bench_stream_threads.py --sizes 64x64x16 512x1152x128
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numba  # noqa: E402
import numpy as np  # noqa: E402

from essop_sim import HardwareConfig  # noqa: E402
from essop_sim.datapaths.essop import numerics as essop  # noqa: E402
from essop_sim.numerics import threads as policy  # noqa: E402

#: Seconds between measurements: OpenMP's idle threads spin for a while after a parallel region
#: and would slow whatever runs next (measured: the next mode's streams 2x slower without it).
PAUSE = 0.2
DEFAULT_SIZES = ("64x72x16", "512x144x16", "512x288x64", "2048x576x64", "512x1152x128")


def work_of(K: int, n: int, m: int, bl: int = 64) -> int:
    """The policy's work measure of an update (word operations)."""
    words = (bl + 63) // 64
    return K * (n * m * words + (n + m) * bl)


def run(x, d, config, mode: str, nthreads: int) -> tuple[float, float, int]:
    """(streams seconds, total seconds, threads used) of one update in ``mode``."""
    timings: dict[str, float] = {}
    chosen = []
    original = policy.choose_threads

    def spy(work, small_work, cap=None):
        n = original(work, small_work, cap)
        chosen.append(n)
        return n

    essop.choose_threads = spy
    saved = essop.SERIAL_WORK, policy.free_cores
    try:
        if mode == "1":
            with policy.limited(1):
                started = time.perf_counter()
                essop.essop_outer_product(x, d, config, 1, timings=timings)
        else:
            if mode == "N":  # forced: every thread, whatever the work and the load
                essop.SERIAL_WORK, policy.free_cores = 0, lambda: nthreads
            with policy.limited(nthreads):
                started = time.perf_counter()
                essop.essop_outer_product(x, d, config, 1, timings=timings)
        total = time.perf_counter() - started
    finally:
        essop.choose_threads = original
        essop.SERIAL_WORK, policy.free_cores = saved
    return timings["streams"], total, chosen[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=list(DEFAULT_SIZES), metavar="KxNxM")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--busy", type=int, default=0, help="busy-loop processes to start")
    args = parser.parse_args(argv)

    nthreads = numba.config.NUMBA_NUM_THREADS
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
            for _ in range(args.busy)]
    try:
        time.sleep(1.0 if busy else 0.0)
        print(f"command: {shlex.join([sys.executable, *sys.argv])}")
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs "
              f"({policy.cores_available()} usable), numba {numba.__version__} "
              f"({nthreads} threads), busy loops started: {len(busy)}, load average "
              f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}, free cores now "
              f"{policy.free_cores()}")
        config = HardwareConfig()
        rng = np.random.default_rng(0)
        modes = ("1", "N", "policy")
        print(f"{'K x n x m':>14} {'work':>11} | " + " | ".join(
            f"{m + (' thr' if m == '1' else ''):>6} streams min/med s  total min s"
            for m in modes) + " | policy threads")
        for size in args.sizes:
            K, n, m = (int(v) for v in size.split("x"))
            x, d = rng.standard_normal((K, n)), rng.standard_normal((K, m))
            for mode in modes:  # compile / warm up
                run(x, d, config, mode, nthreads)
            res: dict[str, list] = {m: [] for m in modes}
            for _ in range(args.repeat):
                for mode in modes:
                    res[mode].append(run(x, d, config, mode, nthreads))
                    time.sleep(PAUSE)  # idle OpenMP threads spin after a region: let them stop
            cells = []
            for mode in modes:
                s = [r[0] for r in res[mode]]
                t = [r[1] for r in res[mode]]
                cells.append(f"{min(s):9.5f} / {statistics.median(s):8.5f}  {min(t):10.5f}")
            chosen = sorted({r[2] for r in res["policy"]})
            print(f"{size:>14} {work_of(K, n, m):11,d} | " + " | ".join(cells)
                  + f" | {chosen}")
        print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    finally:
        for p in busy:
            p.terminate()
        for p in busy:
            p.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
