"""Gate counts of the FP16 multiplier and multiply-accumulate RTL (and ESSOP tiles, when their
RTL is present) with Yosys, per block, as NAND2-equivalents beside the cost table's areas
(docs/cost.md).

Usage::

    python scripts/rtl_synth.py                          # FP16 multiplier, D = default and 7
    python scripts/rtl_synth.py --depths 4,1 --tiles 2,4,8
    python scripts/rtl_synth.py --tiles 2,4 --tile-from ../wt-rtl-tile/essop_sim/rtl

``--tile-from DIR`` reads the ESSOP tile RTL (essop_tile.py and its blocks) from another
checkout's ``essop_sim/rtl`` (read-only), for use before the rtl-tile branch is merged. Tiles
use the shipped configuration (BL 64) with ``essop.array`` set to the tile size.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time


def main(argv: list[str] | None = None) -> int:
    import essop_sim.rtl
    from essop_sim.config import config_from_mapping
    from essop_sim.rtl import synth_report as sr

    default_d = config_from_mapping(None).fp16.pipeline_depth
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--depths", default=f"{default_d},7", help="FP16 pipeline depths D")
    ap.add_argument("--tiles", default="", help="ESSOP tile sizes n (n x n), e.g. 2,4,8")
    ap.add_argument("--tile-from", default=None, help="directory holding essop_tile.py")
    ap.add_argument("--cells", action="store_true", help="also print cells by type")
    args = ap.parse_args(argv)
    print("command:", shlex.join([sys.executable, *sys.argv]))
    t0 = time.perf_counter()
    for d, r in sr.synth_fp16(tuple(int(x) for x in args.depths.split(","))).items():
        print(f"\n## FP16 multiplier, D = {d}  ({r.yosys_version}; Yosys {r.seconds:.1f} s)")
        print(r.table())
        if args.cells:
            print()
            print(r.cells_table())
        print()
        print(sr.comparison_table(sr.compare_fp16(r, d)))
    for acc in ("fp32", "fp16"):
        r = sr.synth_fp16_mac(default_d, acc)
        print(f"\n## FP16 multiply-accumulate, D = {default_d}, {acc} accumulator  "
              f"({r.yosys_version}; Yosys {r.seconds:.1f} s)")
        print(r.table())
        print()
        print(sr.comparison_table(sr.compare_fp16_mac(r, default_d, acc)))
    tiles = [int(x) for x in args.tiles.split(",") if x]
    if tiles and args.tile_from:
        essop_sim.rtl.__path__.append(args.tile_from)
    for n in tiles:
        try:
            r = sr.synth_essop_tile(n, n)
        except ImportError as exc:
            print(f"\nESSOP tile RTL not available ({exc}); skipping tiles")
            break
        print(f"\n## ESSOP tile {n} x {n}, shipped config  ({r.yosys_version}; "
              f"Yosys {r.seconds:.1f} s)")
        print(r.table())
        if args.cells:
            print()
            print(r.cells_table())
        print()
        print(sr.comparison_table(sr.compare_essop(r, n, n)))
    print(f"\ntotal wall time: {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
