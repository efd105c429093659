"""Short bitstreams against BL 64, layer by layer: what a weight update costs at BL 1 .. 32.

For each layer (default: the four ``--quick`` layers of bench_kernels.py: conv1,
stage1.block1.conv1, stage3.block2.conv2, fc; ResNet-32 / CIFAR-10 at batch 128, synthetic
ReLU-like operands as there), times one whole ``essop_outer_product`` (exponents, random
numbers, streams, accumulation; default configuration with the BL changed), interleaved in
rounds so that every BL of a layer sees the same machine load, and prints the min over the
rounds, its exponents / streams / accumulation split, and the time ratio to BL 64 measured in
the same run; with more than one layer also the sum over the layers per BL (``--layers all``:
the whole ResNet-32 step, every BL's layers interleaved as above). With ``--compare`` every
BL that builds its streams packed (``numerics.packed_streams``: BL 1, 2, 4, 8, 16, 32) is also
timed with that path turned off (streams built one by one, then packed where
``and_counter.packs`` says so), interleaved too.

Usage::

    python scripts/bench_short_streams.py                      # BL 1, 2, 4, 8, 16, 32, 64
    python scripts/bench_short_streams.py --bls 8,64 --rounds 9 --compare
    python scripts/bench_short_streams.py --layers stage3.block2.conv2 --bls 8,64
    python scripts/bench_short_streams.py --layers all --bls 8,64 --rounds 5
    python scripts/bench_short_streams.py --bls 8,64,256 --spread 5   # trained-network errors

``--spread D`` scales each sample's delta rows (the layer's K rows split evenly over the
``--batch`` samples) by 10^u, u uniform in [-D, 0]: a trained network's per-sample errors span
orders of magnitude, and many outer products are then right-shifted past their counts
(``numerics.vanishing``). Without it every row has the same scale, and none is.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
from benchinfo import command_line, machine_line

from essop_sim.config import HardwareConfig
from essop_sim.datapaths.essop import numerics as essop_numerics
from essop_sim.numerics import comparator, packed_streams
from essop_sim.workloads import resnet32_cifar10

QUICK = ("conv1", "stage1.block1.conv1", "stage3.block2.conv2", "fc")


def built_packed(bl: int, n: int, m: int) -> bool:
    """Whether the default configuration at this BL builds the layer's streams packed."""
    mask = comparator.MODE_MASK
    return packed_streams.fits(bl, mask, mask, np.uint8, n, m)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", default=",".join(QUICK),
                        help="comma-separated layer names, or 'all'")
    parser.add_argument("--bls", default="1,2,4,8,16,32,64", help="comma-separated BLs")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds (min taken)")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--spread", type=float, default=0.0,
                        help="decades over which the samples' delta scales spread (0: none)")
    parser.add_argument("--compare", action="store_true",
                        help="also time each packed-stream BL with that path turned off")
    args = parser.parse_args(argv)
    bls = [int(b) for b in args.bls.split(",")]
    layers = {lay.name: lay for lay in resnet32_cifar10(args.batch)}
    names = list(layers) if args.layers == "all" else args.layers.split(",")
    unknown = [name for name in names if name not in layers]
    if unknown:
        parser.error(f"--layers: unknown layer(s) {', '.join(unknown)}")
    print(f"command: {command_line()}")
    print(f"machine: {machine_line()}")
    rng = np.random.default_rng(2024)
    data = {}
    for name in names:
        lay = layers[name]
        d = rng.standard_normal((lay.K, lay.m), dtype=np.float32) * np.float32(1e-3)
        if args.spread:
            sample = np.arange(lay.K) * args.batch // lay.K
            d *= (10.0 ** rng.uniform(-args.spread, 0.0, args.batch))[sample, None].astype(
                np.float32)
        data[name] = (np.maximum(rng.standard_normal((lay.K, lay.n), dtype=np.float32), 0), d)
    base = HardwareConfig()
    configs = {bl: dataclasses.replace(base, essop=dataclasses.replace(
        base.essop, bitstream_length=bl)) for bl in bls}
    variants = [(bl, True) for bl in bls]
    if args.compare:
        variants += [(bl, False) for bl in bls if bl in packed_streams.SLOT_BLS]
    fits = packed_streams.fits
    best: dict = {}
    try:
        for _ in range(args.rounds + 1):  # the first round compiles / loads the kernels
            for name in names:
                x, d = data[name]
                for bl, slots in variants:
                    packed_streams.fits = fits if slots else (lambda *a: False)
                    timings: dict = {}
                    t0 = time.perf_counter()
                    essop_numerics.essop_outer_product(x, d, configs[bl], 1, timings=timings)
                    wall = time.perf_counter() - t0
                    key = (name, bl, slots)
                    if key not in best or wall < best[key][0]:
                        best[key] = (wall, timings)
    finally:
        packed_streams.fits = fits
    print(f"load average after: {machine_line().rsplit('load average ', 1)[1]}")
    print(f"whole essop_outer_product, min of {args.rounds} interleaved rounds (ms); "
          "split: exponents / streams / accumulation")
    for name in names:
        lay = layers[name]
        print(f"{name} (m {lay.m}, n {lay.n}, K {lay.K})")
        ref = best.get((name, 64, True), (None,))[0]
        for bl, slots in variants:
            wall, t = best[(name, bl, slots)]
            how = ("streams built packed" if built_packed(bl, lay.n, lay.m)
                   else "streams built one by one" if bl in packed_streams.SLOT_BLS else "")
            if not slots:
                how = "streams built one by one (path turned off)"
            split = " / ".join(f"{1e3 * t.get(k, 0.0):6.2f}"
                               for k in ("exponents", "streams", "accumulate"))
            ratio = f"  BL 64 / this {ref / wall:5.2f}" if ref and bl != 64 else ""
            print(f"  BL {bl:3d}  {1e3 * wall:8.2f}  ({split}){ratio}  {how}")
    if len(names) > 1:
        print(f"sum over the {len(names)} layers (each layer's min; ms)")
        total = {v: sum(best[(name, *v)][0] for name in names) for v in variants}
        ref = total.get((64, True))
        for (bl, slots), wall in total.items():
            ratio = f"  BL 64 / this {ref / wall:5.2f}" if ref and bl != 64 else ""
            off = "" if slots else "  (streams built packed turned off)"
            print(f"  BL {bl:3d}  {1e3 * wall:8.2f}{ratio}{off}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
