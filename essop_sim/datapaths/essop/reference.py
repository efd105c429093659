"""Per-cycle reference model of ESSOP's timing, to validate its event model on small cases.

The tiled-array loop of :func:`essop_sim.hw.reference.reference_tiled` (cycle-boundary order,
memory side, batch and tile rules) with ESSOP's k-step re-stated from docs/timing.md: ceil(BL/b)
bit steps, each g cycles long when one RNG bank output is broadcast to a tile in g cycles (g =
max(ceil(cols / fanout), ceil(rows / fanout)) for 'vector' sharing with a fanout, else 1).
"""

from __future__ import annotations

from ...config import HardwareConfig
from ...hw.reference import ReferenceResult, new_stalls, reference_tiled, up
from .geometry import essop_geometry


def reference_essop(config: HardwareConfig, m: int, n: int, K: int,
                    max_cycles: int = 2_000_000) -> ReferenceResult:
    """Per-cycle ESSOP timing (see module docstring)."""
    essop = config.essop
    tiles, split = essop_geometry(config, m, n, K)
    bit_steps = up(essop.bitstream_length, essop.bits_per_cycle)
    fanout = essop.rng.fanout

    def bcast(u: int) -> int:
        tile = tiles[u]
        if essop.rng.sharing == "element" or fanout == 0:
            return 1
        return max(up(tile.cols, fanout), up(tile.rows, fanout))

    broadcast = [bcast(u) for u in range(len(tiles))]

    def on_cycle(u: int, c: int, busy: dict, stalls: dict) -> None:
        g = broadcast[u]
        bit, sub = divmod(c, g)
        busy["rng_bank"] += 1
        busy["comparators"] += 1
        if c == 0:
            busy["shift_scaler"] += 1          # the k-step's scaled vectors enter
        if sub == g - 1:                       # the bank's number reached every comparator
            busy["and_array"] += 1
            busy["counters"] += 1
            if bit == bit_steps - 1:
                busy["accumulators"] += 1
        else:
            stalls["rng"] += 1

    return reference_tiled(
        config, tiles, split, front_latency=essop.shift_scaler_latency,
        pipeline_stages=essop.pipeline_stages,
        accumulate_cycles=1,   # the count is accumulated in a cycle after the P stages
        accumulator_bits=essop.accumulator_bits,
        blocks=("read_port", "write_port", "shadow", "shift_scaler", "rng_bank", "comparators",
                "and_array", "counters", "accumulators"),
        stall_causes=tuple(new_stalls()), step_cycles=lambda u: bit_steps * broadcast[u],
        on_cycle=on_cycle, max_cycles=max_cycles)
