#!/usr/bin/env python
"""Side by side in one process: essop-sim's ESSOP outer product vs IBM aihwkit's pulsed update.

Both simulate the same thing at the same bitstream length BL: a weight update of a 256 -> 128
layer from a mini-batch of 64 (x [64, 256], delta [64, 128]) formed by stochastic pulse trains
whose coincidences are counted. aihwkit (``AnalogTile`` with a ``ConstantStepDevice``, fixed BL:
``desired_bl = BL``, ``fixed_bl = True``, update and BL management off) also applies each
coincidence to its device model; essop-sim computes the ESSOP counters and accumulators bit for
bit (``essop_outer_product``, default configuration with ``essop.bitstream_length = BL``). The
two are timed interleaved (for each repeat, every BL: a batch of ``--calls`` aihwkit updates,
then a batch of essop-sim updates), the mean per update of the best batch of ``--repeat``, on
the same operands (x = max(0, N(0, 1)), delta = N(0, 1) * 1e-3, float32), with torch and numba
on the same number of threads.

aihwkit is not a dependency of essop-sim: its 1.1.0 wheel (Python 3.11, x86_64) is built against
torch 2.10 and fails its device checks beside another torch, so it gets a venv of its own::

    python3 -m venv /tmp/aihwkit-venv && . /tmp/aihwkit-venv/bin/activate
    pip install torch==2.10.0              # PyPI's build (several GB); it runs on the CPU here
    pip install --no-deps aihwkit==1.1.0
    pip install scipy scikit-learn protobuf tqdm requests
    pip install -e .                       # essop-sim, from the repository root
    python scripts/bench_aihwkit.py        # --bls 1,31,255 --repeat 5 --threads 2

Prints the command, the machine, the load before and after, the versions and a table: seconds
per update for each, G gate evaluations per second (128 * 256 * 64 * BL / seconds) and the ratio
aihwkit / essop-sim (above 1: essop-sim is faster).
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
from benchinfo import command_line, load_average, machine_line

N_IN, N_OUT, BATCH = 256, 128, 64


def aihwkit_tile(bl: int):
    """An aihwkit analog tile (N_OUT x N_IN, constant-step device) updating with fixed BL."""
    from aihwkit.simulator.configs import ConstantStepDevice, SingleRPUConfig
    from aihwkit.simulator.tiles import AnalogTile

    cfg = SingleRPUConfig(device=ConstantStepDevice())
    cfg.update.desired_bl = bl
    cfg.update.fixed_bl = True
    cfg.update.update_bl_management = False
    cfg.update.update_management = False
    tile = AnalogTile(N_OUT, N_IN, rpu_config=cfg)
    tile.set_learning_rate(0.01)
    return tile


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bls", default="1,31,255", help="comma-separated BLs (default 1,31,255)")
    parser.add_argument("--repeat", type=int, default=5, help="timed repetitions (min kept)")
    parser.add_argument("--threads", type=int, default=2, help="torch and numba threads")
    parser.add_argument("--calls", type=int, default=10,
                        help="updates per timed batch (default 10): a sample is the mean of a "
                             "batch of one side's updates, so neither side is timed only on "
                             "its first call after the other's (thread pools still spinning, "
                             "caches holding the other's data)")
    args = parser.parse_args(argv)
    bls = [int(b) for b in args.bls.split(",") if b.strip()]

    import aihwkit
    import numba
    import torch

    from essop_sim.config import HardwareConfig
    from essop_sim.datapaths.essop.numerics import essop_outer_product

    torch.set_num_threads(args.threads)
    numba.set_num_threads(args.threads)
    print("command:", command_line())
    print("machine:", machine_line())
    print(f"versions: aihwkit {aihwkit.__version__}, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), numba {numba.__version__} "
          f"({numba.get_num_threads()} threads)")

    rng = np.random.default_rng(2024)
    x = np.maximum(rng.standard_normal((BATCH, N_IN), dtype=np.float32), 0)
    d = rng.standard_normal((BATCH, N_OUT), dtype=np.float32) * np.float32(1e-3)
    xt, dt = torch.from_numpy(x), torch.from_numpy(d)
    base = HardwareConfig()
    configs = {bl: dataclasses.replace(base, essop=dataclasses.replace(
        base.essop, bitstream_length=bl)) for bl in bls}
    tiles = {bl: aihwkit_tile(bl) for bl in bls}
    for bl in bls:  # compile / warm up both sides outside the timed loop
        tiles[bl].update(xt, dt)
        essop_outer_product(x, d, configs[bl], 0)

    best = {(side, bl): float("inf") for side in ("aihwkit", "essop") for bl in bls}
    calls = args.calls
    for rep in range(args.repeat):
        for bl in bls:
            t0 = time.perf_counter()
            for _ in range(calls):
                tiles[bl].update(xt, dt)
            best["aihwkit", bl] = min(best["aihwkit", bl], (time.perf_counter() - t0) / calls)
            t0 = time.perf_counter()
            for c in range(calls):
                essop_outer_product(x, d, configs[bl], rep * calls + c)
            best["essop", bl] = min(best["essop", bl], (time.perf_counter() - t0) / calls)

    print(f"{'BL':>5}  {'aihwkit s':>10}  {'essop-sim s':>11}  {'aihwkit Geval/s':>15}  "
          f"{'essop Geval/s':>13}  {'aihwkit/essop':>13}")
    for bl in bls:
        evals = N_OUT * N_IN * BATCH * bl
        a, e = best["aihwkit", bl], best["essop", bl]
        print(f"{bl:>5}  {a:>10.5f}  {e:>11.5f}  {evals / a / 1e9:>15.2f}  "
              f"{evals / e / 1e9:>13.2f}  {a / e:>13.2f}")
    print("load average after:", load_average())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
