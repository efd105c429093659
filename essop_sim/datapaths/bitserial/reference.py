"""Per-cycle reference of the bit-serial datapath's timing, to validate its event model.

The tiled-array loop of :func:`essop_sim.hw.reference.reference_tiled` (cycle-boundary order,
memory side, batch and tile rules) with the bit-serial k-step re-stated from docs/bitserial.md:
ceil(p / b) cycles, the quantiser busy in its first, the accumulator in its last. One loop
iteration is one clock cycle; nothing here imports the event model.
"""

from __future__ import annotations

from ...hw.reference import ReferenceResult, reference_tiled, up
from .geometry import bitserial_geometry


def reference_bitserial(config, m: int, n: int, K: int, precision: int,
                        max_cycles: int = 2_000_000) -> ReferenceResult:
    """Per-cycle bit-serial timing at serial precision ``precision``."""
    bs = config.bitserial
    tiles, split = bitserial_geometry(config, m, n, K)
    steps = up(precision, bs.bits_per_cycle)     # cycles per outer product

    def on_cycle(u: int, c: int, busy: dict, stalls: dict) -> None:
        busy["serial_units"] += 1
        if c == 0:
            busy["quantiser"] += 1       # the vector pair of the k-step enters the units
        if c == steps - 1:
            busy["accumulators"] += 1    # its product is added

    return reference_tiled(
        config, tiles, split, front_latency=bs.quantiser_latency,
        pipeline_stages=bs.pipeline_stages,
        accumulate_cycles=1,   # the accumulator add after the P stages
        accumulator_bits=bs.accumulator_bits,
        blocks=("read_port", "write_port", "shadow", "quantiser", "serial_units",
                "accumulators"),
        stall_causes=("fill", "operand", "writeback", "drain"), step_cycles=lambda u: steps,
        on_cycle=on_cycle, max_cycles=max_cycles)
