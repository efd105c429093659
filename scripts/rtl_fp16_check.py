"""Cross-check the FP16 multiplier RTL (Amaranth) against the binary16 numerics and timing.

Streams seeded operand pairs (random bit patterns plus deliberate zeros, subnormals, infinities,
NaNs, overflow, underflow and RNE ties; ``essop_sim.rtl.fp16_check.operand_pairs``) through
``Fp16Multiplier(D)`` in amaranth.sim and compares every product with
``essop_sim.numerics.fp16.mul_bits`` bit for bit, and every product's latency with D and the
drain with the timing model. The first depth streams back to back, the others with bubbles.
Then the multiply-accumulate RTL (``Fp16Mac``, fp16 and fp32 accumulation) against the FP16
datapath's ``fp16_outer_product`` raw accumulator patterns. Exit status 1 on any mismatch.

Usage::

    python scripts/rtl_fp16_check.py                    # 10,000 pairs, D = default, 1, 7
    python scripts/rtl_fp16_check.py --pairs 500 --depths 2,3 --seed 1
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time


def main(argv: list[str] | None = None) -> int:
    from essop_sim.config import config_from_mapping
    from essop_sim.rtl.fp16_check import (
        check_mac,
        check_multiplier,
        edge_pairs,
        operand_pairs,
    )

    default_d = config_from_mapping(None).fp16.pipeline_depth
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=int, default=10_000, help="random operand pairs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--depths", default=f"{default_d},1,7",
                    help=f"comma-separated pipeline depths D (default {default_d},1,7; the "
                         "first is fp16.pipeline_depth of the default configuration)")
    ap.add_argument("--mac-k", type=int, default=64,
                    help="products per element of the multiply-accumulate check (8 x 8 "
                         "elements, fp16 and fp32 accumulation, first depth)")
    args = ap.parse_args(argv)
    depths = tuple(int(d) for d in args.depths.split(","))
    print("command:", shlex.join([sys.executable, *sys.argv]))
    t0 = time.perf_counter()
    a, b, cat = operand_pairs(args.pairs, args.seed)
    result = check_multiplier(a, b, depths, cat, seed=args.seed)
    print(result.summary())
    ea, eb = edge_pairs()
    edges = check_multiplier(ea, eb, depths[:1], seed=args.seed)
    print(f"edge values: all {edges.pairs} ordered pairs of "
          f"{int(round(edges.pairs ** 0.5))} edge patterns at D={depths[0]}: "
          f"{edges.mismatch_count} mismatches, {'PASS' if edges.passed else 'FAIL'}")
    macs = [check_mac(args.mac_k, 8, 8, depths[0], acc, seed=args.seed)
            for acc in ("fp16", "fp32")]
    for mac in macs:
        print(mac.summary())
    ok = result.passed and edges.passed and all(mac.passed for mac in macs)
    print(f"total wall time: {time.perf_counter() - t0:.1f} s")
    print("OVERALL:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
