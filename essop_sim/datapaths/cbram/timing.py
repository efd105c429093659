"""The CBRAM datapath as a SimPy event model, on the shared tiled array.

The sequencing (loader, array, pipeline drain, write-back) is :mod:`essop_sim.hw.tiled_array`,
as for ESSOP, with a bit period of SET + read + RESET cycles in place of one cycle per bit and no
RNG broadcast; see docs/cbram.md, "Timing".
"""

from __future__ import annotations

from ...hw.counters import ACCUMULATE_CYCLES
from ...hw.tiled_array import TiledArrayRun, tiled_closed_form
from .geometry import bit_period, bit_periods, cbram_geometry, phase_cycles

#: Busy-cycle keys (block -> cycles).
BLOCKS = ("read_port", "write_port", "shadow", "shift_scaler", "pulse_generators", "devices",
          "sense_amps", "and_array", "counters", "accumulators")
#: Stall causes (no RNG broadcast in this datapath).
STALLS = ("fill", "operand", "writeback", "drain")
_ARRAY_BUSY = ("shift_scaler", "pulse_generators", "devices", "sense_amps", "and_array",
               "counters", "accumulators")
_ARRAY_STALLS = ("operand", "writeback")


class CbramEventModel(TiledArrayRun):
    """One CBRAM update of shape [m, n] summed over K: the shared tiled array
    (:class:`~essop_sim.hw.tiled_array.TiledArrayRun`) whose k-step is ceil(BL / d) bit periods
    of SET + read + RESET cycles, with the shift scaler's latency in front."""

    def __init__(self, config, m: int, n: int, K: int, fast_forward: bool = True):
        c = config.cbram
        tiles, split = cbram_geometry(config, m, n, K)
        super().__init__(config, tiles, split, blocks=BLOCKS, stall_causes=STALLS,
                         array_busy=_ARRAY_BUSY, array_stalls=_ARRAY_STALLS,
                         front_latency=c.shift_scaler_latency, pipeline_stages=c.pipeline_stages,
                         accumulate_cycles=ACCUMULATE_CYCLES,   # ESSOP's back end
                         accumulator_bits=c.accumulator_bits, fast_forward=fast_forward)
        self.periods = bit_periods(config)
        self.period = bit_period(config)
        self.set_cycles, self.read_cycles, _ = phase_cycles(config)
        self.steps = self.periods * self.period      # cycles per outer product
        act = self.stats.activity
        bl = c.bitstream_length
        for tile in self.tiles:
            cells, lines = tile.rows * tile.cols, tile.rows + tile.cols
            act["set_pulses"] += K * bl * lines
            act["reads"] += K * bl * lines
            act["and_ops"] += cells * K * bl
            act["accumulator_adds"] += cells * K
            act["shift_ops"] += K * lines

    def step_cycles(self, u: int) -> int:
        """ceil(BL / d) bit periods per k-step, on every tile."""
        return self.steps

    def account(self, u: int, nk: int, stream: int) -> None:
        busy = self.stats.busy
        periods = nk * self.periods
        busy["devices"] += stream
        busy["pulse_generators"] += periods * self.set_cycles
        busy["sense_amps"] += periods * self.read_cycles
        busy["and_array"] += periods
        busy["counters"] += periods
        busy["shift_scaler"] += nk
        busy["accumulators"] += nk


def closed_form_terms(config, m: int, n: int, K: int) -> dict[str, int]:
    """Terms of the stall-free cycle count: 'load' (the first k-step's vector pair),
    'scaler', 'compute' (tiles * K * ceil(BL / d) * (SET + read + RESET cycles)), 'pipeline',
    'accumulate' (ESSOP's accumulate stage, 1), 'writeback'."""
    c = config.cbram
    tiles, _ = cbram_geometry(config, m, n, K)
    return tiled_closed_form(config, tiles, K, front=("scaler", c.shift_scaler_latency),
                             step_cycles=bit_periods(config) * bit_period(config),
                             pipeline_stages=c.pipeline_stages,
                             accumulate_cycles=ACCUMULATE_CYCLES,
                             accumulator_bits=c.accumulator_bits)
