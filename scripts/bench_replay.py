#!/usr/bin/env python
"""Replay one ResNet-32 / CIFAR-10 training step (batch 128) through ESSOP: numerics and timing.

For each of the 34 layers (essop_sim.workloads.resnet32_cifar10) the script

- times the update with the event model (essop_sim.hw.time_update: cycles, events), and
- unless --timing-only, computes it bit-exactly with essop_sim.outer_product on synthetic
  operands with realistic statistics: x ReLU-like (standard normal clipped at 0, about 50%
  zeros), delta small and signed (normal, sigma 1e-3). Operands are fed per layer in chunks
  of --chunk k-steps (the K axis) so memory stays bounded; each chunk is one outer_product call
  (the same bit-level work as one call over all K; only the accumulator's common exponent E is
  per chunk instead of per layer). To keep synthesis cheap, one pool of chunk + 4096
  rows is drawn per distinct layer shape (n, m) and every chunk is a window of it at a random
  row offset (same statistics, different data per chunk).

The numerics are warmed up (JIT compilation) on a tiny update before the clock starts; the
warm-up time is printed on its own line.

It prints the command, the machine, the wall time, the events processed and how the time splits
between operand synthesis, numerics and the event model. Goal: a full step in 5 s.

    python scripts/bench_replay.py                 # full step, numerics + timing
    python scripts/bench_replay.py --timing-only   # event model only
    python scripts/bench_replay.py --quick         # batch 8 instead of 128 (K / 16), smoke run
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time

import numpy as np


def machine() -> str:
    """One line describing the machine and the numeric stack."""
    try:
        import numba
        numba_version = numba.__version__
    except ImportError:  # pragma: no cover - numba is a dependency
        numba_version = "absent"
    cpus = os.cpu_count()
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cpus
    return (f"{platform.platform()}; {platform.processor() or platform.machine()}; "
            f"{cpus} CPUs ({affinity} usable); Python {platform.python_version()}; "
            f"numpy {np.__version__}; numba {numba_version}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timing-only", action="store_true",
                        help="skip the numerics (event model only)")
    parser.add_argument("--quick", action="store_true",
                        help="batch 8 instead of 128 (every K / 16): a smoke run")
    parser.add_argument("--batch", type=int, default=None, help="mini-batch size (default 128)")
    parser.add_argument("--bitstream-length", type=int, default=64, help="BL (default 64)")
    parser.add_argument("--chunk", type=int, default=8192,
                        help="k-steps per numerics call (default 8192)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from essop_sim import workloads
    from essop_sim.config import load_config
    from essop_sim.hw import time_update

    batch = args.batch or (8 if args.quick else 128)
    config = load_config(overrides={"datapath": "essop",
                                    "essop.bitstream_length": args.bitstream_length})
    layers = workloads.resnet32_cifar10(batch)
    print("command:", " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]))
    print("machine:", machine())
    print(f"workload: ResNet-32 / CIFAR-10, batch {batch}, {len(layers)} layers, "
          f"{sum(L.elements for L in layers):.3e} outer-product elements; ESSOP BL "
          f"{args.bitstream_length}, array {config.essop.array.rows}x{config.essop.array.cols}")

    outer_product = None
    if not args.timing_only:
        from essop_sim import outer_product

        t0 = time.perf_counter()
        outer_product(np.ones((4, 3), np.float32), np.full((4, 2), 1e-3, np.float32), config)
        print(f"numerics JIT warm-up (not in wall time): {time.perf_counter() - t0:.3f} s")

    load_before = os.getloadavg()
    cpu_all = time.process_time()
    t_all = time.perf_counter()
    t_timing = t_numerics = t_synth = 0.0
    events = runs = cycles = 0
    pools: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
    for index, layer in enumerate(layers):
        t0 = time.perf_counter()
        timing = time_update(config, layer.m, layer.n, layer.K)
        t_timing += time.perf_counter() - t0
        events += timing.events
        runs += timing.runs
        cycles += timing.cycles
        if outer_product is None:
            continue
        t0 = time.perf_counter()
        rng = np.random.default_rng((args.seed, index))
        if (layer.n, layer.m) not in pools:
            rows = args.chunk + 4096
            pools[layer.n, layer.m] = (
                np.maximum(rng.standard_normal((rows, layer.n), dtype=np.float32), 0.0),
                rng.standard_normal((rows, layer.m), dtype=np.float32) * np.float32(1e-3))
        x_pool, d_pool = pools[layer.n, layer.m]
        rows = x_pool.shape[0]
        t_synth += time.perf_counter() - t0
        for k0 in range(0, layer.K, args.chunk):
            kc = min(args.chunk, layer.K - k0)
            t0 = time.perf_counter()
            off = int(rng.integers(0, rows - kc + 1))
            x, delta = x_pool[off:off + kc], d_pool[off:off + kc]
            t1 = time.perf_counter()
            outer_product(x, delta, config, seed=args.seed + 7919 * index + k0)
            t2 = time.perf_counter()
            t_synth += t1 - t0
            t_numerics += t2 - t1
    wall = time.perf_counter() - t_all
    cpu_all = time.process_time() - cpu_all

    def share(t: float) -> str:
        return f"{t:.3f} s ({100 * t / wall:.1f}%)" if wall > 0 else f"{t:.3f} s"

    print(f"wall time: {wall:.3f} s; CPU time (all threads) {cpu_all:.3f} s; load average "
          f"before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}")
    print(f"event model: {share(t_timing)}; {events} events processed "
          f"({runs} of them fast-forwarded runs of identical batches)")
    if outer_product is not None:
        print(f"numerics: {share(t_numerics)}; operand synthesis: {share(t_synth)}")
    print(f"simulated: {cycles} cycles = {cycles / config.memory.clock_hz * 1e3:.3f} ms at "
          f"{config.memory.clock_hz / 1e9:g} GHz")
    return 0


if __name__ == "__main__":
    sys.exit(main())
