"""Benchmark the ESSOP hot path on the weight-update shapes of ResNet-32 / CIFAR-10.

For every layer (essop_sim.workloads.resnet32_cifar10, batch 128 by default) it builds synthetic
ReLU-like operands (x = max(0, N(0, 1)), delta = N(0, 1) * 1e-3, float32), then measures

* the AND/popcount accumulation kernel alone (``and_counter.accumulate_fast`` on the packed
  streams, in the same chunks essop_outer_product uses), as gate evaluations per second:
  m * n * K * BL AND-gate evaluations / seconds;
* a plain popcount roofline over the same packed data and loop shape
  (``and_counter.popcount_roofline``: sum of popcount(a & b), no sign, shift, activity or
  saturation), in the same run, and the ratio of the two;
* the full ``essop_outer_product`` (exponents, random numbers, comparators/streams and
  accumulation), and the share of its time in stream generation versus accumulation.

Usage::

    python scripts/bench_kernels.py            # all 34 layers
    python scripts/bench_kernels.py --quick    # 4 representative layers
    python scripts/bench_kernels.py --layers conv1,stage3.block4.conv2
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import subprocess
import sys
import time

import numpy as np


def cpu_model() -> str:
    """The CPU model name (Linux /proc/cpuinfo, else platform.processor())."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 representative layers only")
    parser.add_argument("--layers", default=None, help="comma-separated layer names")
    parser.add_argument("--batch", type=int, default=128, help="mini-batch size (default 128)")
    parser.add_argument("--bl", type=int, default=64, help="bitstream length BL (bits)")
    parser.add_argument("--repeat", type=int, default=1, help="timed repetitions (best kept)")
    args = parser.parse_args(argv)

    t_import = time.perf_counter()
    import numba

    from essop_sim.config import HardwareConfig
    from essop_sim.datapaths.essop.numerics import default_chunk, essop_outer_product
    from essop_sim.numerics import and_counter, comparator, shift_scaler
    from essop_sim.numerics.lfsr import RngBanks
    from essop_sim.workloads import resnet32_cifar10

    t_import = time.perf_counter() - t_import

    layers = resnet32_cifar10(args.batch)
    if args.layers:
        wanted = [s.strip() for s in args.layers.split(",") if s.strip()]
        by_name = {lay.name: lay for lay in layers}
        missing = [s for s in wanted if s not in by_name]
        if missing:
            parser.error(f"unknown layers {missing}; known: {sorted(by_name)}")
        layers = [by_name[s] for s in wanted]
    elif args.quick:
        pick = ("conv1", "stage1.block1.conv1", "stage3.block2.conv2", "fc")
        layers = [lay for lay in layers if lay.name in pick]

    import dataclasses
    base = HardwareConfig()
    config = dataclasses.replace(base, essop=dataclasses.replace(base.essop,
                                                                 bitstream_length=args.bl))
    c = config.essop
    bl, w = c.bitstream_length, c.comparator_bits
    words = (bl + 63) // 64

    print("command:", " ".join(shlex.quote(a) for a in [sys.executable] + sys.argv))
    print(f"machine: {cpu_model()}; {os.cpu_count()} logical CPUs; numba "
          f"{numba.__version__}, {numba.get_num_threads()} threads "
          f"({numba.threading_layer() if hasattr(numba, 'threading_layer') else '?'} layer); "
          f"numpy {np.__version__}; load average {os.getloadavg()[0]:.2f}")
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, check=False).stdout.strip()
    except OSError:
        rev = ""
    print(f"config: BL={bl} bits, comparator_bits={w}, lfsr_bits={c.rng.lfsr_bits}, sharing="
          f"{c.rng.sharing}, counter_bits={c.counter_bits}, accumulator_bits="
          f"{c.accumulator_bits}, F={c.accumulator_fraction_bits}; batch {args.batch}; "
          f"{len(layers)} layers; git {rev or '?'}")

    # Compile (or load from the numba cache) every kernel on a tiny problem first.
    t0 = time.perf_counter()
    tiny_x = np.abs(np.random.default_rng(0).standard_normal((8, 5))).astype(np.float32)
    tiny_d = np.random.default_rng(1).standard_normal((8, 3)).astype(np.float32)
    essop_outer_product(tiny_x, tiny_d, config, 0)
    essop_outer_product(tiny_x.astype(np.float64), tiny_d.astype(np.float64), config, 0)
    Xt = np.zeros((2, words, 5), np.uint64)
    Dt = np.zeros((2, words, 3), np.uint64)
    and_counter.popcount_roofline(Xt, Dt, np.zeros((3, 5), np.int64), 1, 1)
    t_compile = time.perf_counter() - t0
    print(f"import {t_import:.2f} s; kernel compile/cache load {t_compile:.2f} s")

    header = (f"{'layer':<24}{'m':>4}{'n':>5}{'K':>8}  {'acc Geval/s':>11}  "
              f"{'roof Geval/s':>12}  {'ratio':>5}  {'full s':>7}  {'streams':>7}  {'acc':>5}")
    print(header)
    tot = dict(evals=0, acc=0.0, roof=0.0, full=0.0, streams=0.0, accum=0.0, expo=0.0, cpu=0.0)
    rng = np.random.default_rng(2024)
    for lay in layers:
        K, n, m = lay.K, lay.n, lay.m
        x = np.maximum(rng.standard_normal((K, n), dtype=np.float32), 0)
        d = rng.standard_normal((K, m), dtype=np.float32) * np.float32(1e-3)
        # Full datapath.
        best_full, timings, cpu = None, None, 0.0
        for _ in range(args.repeat):
            tm: dict = {}
            c0 = time.process_time()
            t0 = time.perf_counter()
            essop_outer_product(x, d, config, 1, timings=tm)
            dt = time.perf_counter() - t0
            if best_full is None or dt < best_full:
                best_full, timings, cpu = dt, tm, time.process_time() - c0
        # Kernels alone, on the same packed streams and chunks.
        chunk = default_chunk(n, m, bl, c.rng.sharing)
        kblock, groups = and_counter.kernel_layout(n, m, words)
        ex, _ = shift_scaler.exponents(shift_scaler.row_max_abs(x, "x", 4096), "vector")
        ed, _ = shift_scaler.exponents(shift_scaler.row_max_abs(d, "delta", 4096), "vector")
        active = np.ones(K, np.bool_)
        s = (ex + ed).max() - (ex + ed)
        F = c.accumulator_fraction_bits
        lsh = np.maximum(F - s, 0).astype(np.int64)
        rsh = np.minimum(np.maximum(s - F, 0), 63).astype(np.int64)
        bx = RngBanks("lfsr", "x", 1, w, 1)
        bd = RngBanks("lfsr", "delta", 1, w, 1)
        mode_x = comparator.stream_mode("auto", False, n, w, bl)
        mode_d = comparator.stream_mode("auto", False, m, w, bl)
        ndtype = comparator.number_dtype(w, mode_x, mode_d)
        chunks = []
        for k0 in range(0, K, chunk):
            k1 = min(K, k0 + chunk)
            kc = k1 - k0
            X = np.empty((kc, words, n), np.uint64)
            D = np.empty((kc, words, m), np.uint64)
            Xs = np.empty((kc, n), np.int8)
            Ds = np.empty((kc, m), np.int8)
            Rx = bx.take(kc * bl, np.empty((kc * bl, 1), ndtype))
            Rd = bd.take(kc * bl, np.empty((kc * bl, 1), ndtype))
            with numba.parallel_chunksize(1):  # the schedule essop_outer_product uses
                comparator.streams_both(x[k0:k1], ex[k0:k1], Rx, mode_x, X, Xs, d[k0:k1],
                                        ed[k0:k1], Rd, mode_d, D, Ds, bl, bl, w, 1)
            chunks.append((X, Xs, D, Ds, k0, k1))
        best_acc = best_roof = None
        for _ in range(args.repeat):
            acc = np.zeros((m, n), np.int64)
            inc = np.zeros(m, np.int64)
            t0 = time.perf_counter()
            for X, Xs, D, Ds, k0, k1 in chunks:
                and_counter.accumulate_fast(X, Xs, D, Ds, lsh[k0:k1], rsh[k0:k1],
                                            active[k0:k1], acc, inc, kblock, groups)
            ta = time.perf_counter() - t0
            roof = np.zeros((m, n), np.int64)
            t0 = time.perf_counter()
            for X, _, D, _, _, _ in chunks:
                and_counter.popcount_roofline(X, D, roof, kblock, groups)
            tr = time.perf_counter() - t0
            best_acc = ta if best_acc is None else min(best_acc, ta)
            best_roof = tr if best_roof is None else min(best_roof, tr)
        evals = m * n * K * bl
        tot["evals"] += evals
        tot["acc"] += best_acc
        tot["roof"] += best_roof
        tot["full"] += best_full
        tot["cpu"] += cpu
        tot["streams"] += timings.get("streams", 0.0)
        tot["accum"] += timings.get("accumulate", 0.0)
        tot["expo"] += timings.get("exponents", 0.0)
        print(f"{lay.name:<24}{m:>4}{n:>5}{K:>8}  {evals / best_acc / 1e9:>11.2f}  "
              f"{evals / best_roof / 1e9:>12.2f}  {best_roof / best_acc:>5.2f}  "
              f"{best_full:>7.3f}  {timings.get('streams', 0.0):>7.3f}  "
              f"{timings.get('accumulate', 0.0):>5.2f}", flush=True)
        del x, d, chunks

    full = tot["full"]
    print("-" * len(header))
    print(f"gate evaluations: {tot['evals']:.3e} (m*n*K*BL over {len(layers)} layers)")
    print(f"accumulation kernel: {tot['evals'] / tot['acc'] / 1e9:.2f} G gate-evals/s "
          f"({tot['acc']:.2f} s)")
    print(f"popcount roofline:   {tot['evals'] / tot['roof'] / 1e9:.2f} G gate-evals/s "
          f"({tot['roof']:.2f} s)")
    print(f"ratio accumulation / roofline: {tot['roof'] / tot['acc']:.2f}")
    print(f"full essop_outer_product, whole step: {full:.2f} s "
          f"(exponents {tot['expo']:.2f} s = {100 * tot['expo'] / full:.0f}%, "
          f"streams {tot['streams']:.2f} s = {100 * tot['streams'] / full:.0f}%, "
          f"accumulation {tot['accum']:.2f} s = {100 * tot['accum'] / full:.0f}%)")
    print(f"CPU time of the whole step (all threads of this process): {tot['cpu']:.2f} s "
          f"(CPU / wall {tot['cpu'] / full:.2f}); load average now "
          f"{', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
