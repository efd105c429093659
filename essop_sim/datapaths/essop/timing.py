"""The ESSOP datapath as a SimPy event model composed of its blocks.

The sequencing (loader, array, pipeline drain, write-back) is the shared tiled array of
:mod:`essop_sim.hw.tiled_array`; ESSOP's blocks give it a k-step of ceil(BL / b) bit steps, each
as long as the RNG broadcast to the tile (:mod:`~essop_sim.hw.rng_bank`), streamed through
comparators, AND array and counters, with the shift scaler's latency in front. See
docs/timing.md.
"""

from __future__ import annotations

from ...config import HardwareConfig
from ...hw.and_array import AndArray
from ...hw.comparators import Comparators
from ...hw.counters import ACCUMULATE_CYCLES, Counters
from ...hw.rng_bank import RngBanks
from ...hw.scheduler import ceil_div
from ...hw.shift_scaler import ShiftScaler
from ...hw.sim import Stats
from ...hw.tiled_array import TiledArrayRun, tiled_closed_form
from ...numerics.pattern import mask_array
from .geometry import essop_geometry

#: Busy-cycle keys reported for ESSOP (block -> cycles).
ESSOP_BLOCKS = ("read_port", "write_port", "shadow", "shift_scaler", "rng_bank", "comparators",
                "and_array", "counters", "accumulators")
_ARRAY_BUSY = ("shift_scaler", "rng_bank", "comparators", "and_array", "counters",
               "accumulators")
_ARRAY_STALLS = ("operand", "rng", "writeback")


class EssopEventModel(TiledArrayRun):
    """One ESSOP update of shape [m, n] summed over K, ready to :meth:`run`: the shared tiled
    array (:class:`~essop_sim.hw.tiled_array.TiledArrayRun`) whose k-step streams a bitstream
    through RNG banks, comparators, AND array and counters.

    Args:
        config: hardware configuration.
        m, n, K: update rows (delta length), columns (x length), outer products.
        fast_forward: skip provably periodic runs of identical batches (exact).
    """

    def __init__(self, config: HardwareConfig, m: int, n: int, K: int,
                 fast_forward: bool = True):
        essop = config.essop
        tiles, split = essop_geometry(config, m, n, K)
        super().__init__(config, tiles, split, blocks=ESSOP_BLOCKS, stall_causes=Stats.CAUSES,
                         array_busy=_ARRAY_BUSY, array_stalls=_ARRAY_STALLS,
                         front_latency=essop.shift_scaler_latency,
                         pipeline_stages=essop.pipeline_stages,
                         accumulate_cycles=ACCUMULATE_CYCLES,
                         accumulator_bits=essop.accumulator_bits, fast_forward=fast_forward)
        self.K = K
        self.rng = RngBanks(config)
        self.comparators = Comparators(essop.bitstream_length)
        self.ands = AndArray(essop.bitstream_length, essop.bits_per_cycle)
        self.counters = Counters(essop.pipeline_stages, essop.bits_per_cycle)
        self.scaler = ShiftScaler(essop.shift_scaler_latency)
        self.broadcast = [self.rng.broadcast_factor(t) for t in self.tiles]
        self._step_cycles = [self.ands.step_cycles(g) for g in self.broadcast]
        act = self.stats.activity
        for tile, s in zip(self.tiles, self._step_cycles, strict=True):
            self.rng.count(tile, K, act)
            self.comparators.count(tile, K, act)
            self.ands.count(tile, K, act)
            self.scaler.count(tile, K, act)
            self.counters.count(tile, K, K * s, act)
        mask = mask_array(essop.mask, m, n)
        if mask is not None:   # unconnected cells are clock-gated: no AND, no accumulate
            for tile in self.tiles:
                idle = tile.rows * tile.cols - int(mask[tile.row0:tile.row0 + tile.rows,
                                                        tile.col0:tile.col0 + tile.cols].sum())
                act["and_ops"] -= K * essop.bitstream_length * idle
                act["accumulator_adds"] -= K * idle

    def step_cycles(self, u: int) -> int:
        """ceil(BL / b) bit steps, each g cycles when the RNG broadcast to tile u takes g."""
        return self._step_cycles[u]

    def account(self, u: int, nk: int, stream: int) -> None:
        busy, stalls = self.stats.busy, self.stats.stalls
        ands = nk * self.ands.bit_steps
        busy["rng_bank"] += stream
        busy["comparators"] += stream
        busy["and_array"] += ands
        busy["counters"] += ands
        busy["shift_scaler"] += nk
        busy["accumulators"] += nk
        stalls["rng"] += (self.broadcast[u] - 1) * ands


def closed_form_terms(config: HardwareConfig, m: int, n: int, K: int) -> dict[str, int]:
    """The terms of ESSOP's stall-free cycle count (cycles); their sum is the total.

    'load' (the first k-step's vector pair, ceil((r0 + c0) * operand_bits / read_bw)), 'scaler'
    (shift_scaler_latency), 'compute' (tiles * K * ceil(BL / bits_per_cycle)), 'pipeline'
    (pipeline_stages), 'accumulate' (the accumulate stage, 1), 'writeback' (last tile,
    ceil(r * c * accumulator_bits / write_bw)).
    """
    essop = config.essop
    tiles, _ = essop_geometry(config, m, n, K)
    return tiled_closed_form(config, tiles, K, front=("scaler", essop.shift_scaler_latency),
                             step_cycles=ceil_div(essop.bitstream_length, essop.bits_per_cycle),
                             pipeline_stages=essop.pipeline_stages,
                             accumulate_cycles=ACCUMULATE_CYCLES,
                             accumulator_bits=essop.accumulator_bits)
