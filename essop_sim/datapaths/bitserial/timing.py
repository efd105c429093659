"""The bit-serial datapath as a SimPy event model, on the shared tiled array.

The sequencing (loader, array, pipeline drain, write-back) is :mod:`essop_sim.hw.tiled_array`,
as for ESSOP, with a k-step of ceil(p / b) cycles, the quantiser's latency in front and no RNG
broadcast; see docs/bitserial.md.
"""

from __future__ import annotations

from ...hw.tiled_array import TiledArrayRun, tiled_closed_form
from .geometry import bit_steps, bitserial_geometry

#: The accumulate stage (docs/bitserial.md, Timing): the product, aligned after the P stages, is
#: added to the A-bit accumulator (and clamped) in a cycle of its own (cycles).
ACCUMULATE_CYCLES = 1

#: Busy-cycle keys (block -> cycles).
BLOCKS = ("read_port", "write_port", "shadow", "quantiser", "serial_units", "accumulators")
#: Stall causes (no RNG broadcast in this datapath).
STALLS = ("fill", "operand", "writeback", "drain")
_ARRAY_BUSY = ("quantiser", "serial_units", "accumulators")
_ARRAY_STALLS = ("operand", "writeback")


class BitSerialEventModel(TiledArrayRun):
    """One bit-serial update of shape [m, n] summed over K at serial precision p: the shared
    tiled array (:class:`~essop_sim.hw.tiled_array.TiledArrayRun`) whose k-step takes
    ceil(p / b) cycles, with the quantiser's latency in front."""

    def __init__(self, config, m: int, n: int, K: int, precision: int,
                 fast_forward: bool = True):
        bs = config.bitserial
        tiles, split = bitserial_geometry(config, m, n, K)
        super().__init__(config, tiles, split, blocks=BLOCKS, stall_causes=STALLS,
                         array_busy=_ARRAY_BUSY, array_stalls=_ARRAY_STALLS,
                         front_latency=bs.quantiser_latency, pipeline_stages=bs.pipeline_stages,
                         accumulate_cycles=ACCUMULATE_CYCLES,
                         accumulator_bits=bs.accumulator_bits, fast_forward=fast_forward)
        self.steps = bit_steps(config, precision)
        act = self.stats.activity
        for tile in self.tiles:
            cells = tile.rows * tile.cols
            act["unit_steps"] += cells * K * self.steps
            act["accumulator_adds"] += cells * K
            act["quantise_ops"] += K * (tile.rows + tile.cols)
            if bs.scaling == "vector":
                act["align_shifts"] += cells * K

    def step_cycles(self, u: int) -> int:
        """ceil(p / b) cycles per k-step, on every tile."""
        return self.steps

    def account(self, u: int, nk: int, stream: int) -> None:
        busy = self.stats.busy
        busy["serial_units"] += stream
        busy["quantiser"] += nk
        busy["accumulators"] += nk


def closed_form_terms(config, m: int, n: int, K: int, precision: int) -> dict[str, int]:
    """Terms of the stall-free cycle count: 'load' (the first k-step's vector pair),
    'quantiser', 'compute' (tiles * K * ceil(p / b)), 'pipeline', 'accumulate' (1),
    'writeback' (last tile)."""
    bs = config.bitserial
    tiles, _ = bitserial_geometry(config, m, n, K)
    return tiled_closed_form(config, tiles, K, front=("quantiser", bs.quantiser_latency),
                             step_cycles=bit_steps(config, precision),
                             pipeline_stages=bs.pipeline_stages,
                             accumulate_cycles=ACCUMULATE_CYCLES,
                             accumulator_bits=bs.accumulator_bits)
