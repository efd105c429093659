"""The ESSOP datapath as a SimPy event model composed of its blocks.

Processes (each reads like the hardware block it models):

- loader (:class:`~essop_sim.hw.operand_buffer.OperandBuffer`): loads batch after batch into
  alternating buffer halves over the read port;
- array (this module): for each batch, waits for its operands (load done + shift-scaler latency)
  and, at a tile's first batch, for the shadow register to be free of tile u-2; then streams the
  batch's k-steps through RNG banks, comparators, AND array and counters;
- pipeline drain (:class:`~essop_sim.hw.counters.PipelineDrain`): a tile is final P cycles after
  its last AND cycle;
- write-back (:class:`~essop_sim.hw.writeback.WritebackUnit`): shadow move and burst.

Events are transactions (one batch load, one batch of k-steps, one write-back burst, one
fast-forwarded run of identical batches), each with exact cycle stamps. See docs/timing.md.
"""

from __future__ import annotations

import simpy

from ...config import HardwareConfig
from ...hw.and_array import AndArray
from ...hw.comparators import Comparators
from ...hw.counters import Counters, PipelineDrain
from ...hw.fastforward import FastForward
from ...hw.operand_buffer import MemoryPorts, OperandBuffer, Skip
from ...hw.rng_bank import RngBanks
from ...hw.scheduler import ceil_div
from ...hw.shift_scaler import ShiftScaler
from ...hw.sim import DatapathRun, Stats
from ...hw.writeback import WritebackUnit
from .geometry import essop_geometry

#: Busy-cycle keys reported for ESSOP (block -> cycles).
ESSOP_BLOCKS = ("read_port", "write_port", "shadow", "shift_scaler", "rng_bank", "comparators",
                "and_array", "counters", "accumulators")
_ARRAY_BUSY = ("shift_scaler", "rng_bank", "comparators", "and_array", "counters",
               "accumulators")
_ARRAY_STALLS = ("operand", "rng", "writeback")


class EssopEventModel(DatapathRun):
    """One ESSOP update of shape [m, n] summed over K, ready to :meth:`run`.

    Args:
        config: hardware configuration.
        m, n, K: update rows (delta length), columns (x length), outer products.
        fast_forward: skip provably periodic runs of identical batches (exact).
    """

    def __init__(self, config: HardwareConfig, m: int, n: int, K: int,
                 fast_forward: bool = True):
        self.tiles, self.split = essop_geometry(config, m, n, K)
        essop, mem = config.essop, config.memory
        self.K = K
        self.operand_bits = mem.operand_bits
        self.accumulator_bits = essop.accumulator_bits
        self.env = env = simpy.Environment()
        self.stats = Stats(ESSOP_BLOCKS)
        self.ports = MemoryPorts(env, mem.shared_port, mem.read_bandwidth, mem.write_bandwidth)
        self.per_tile = self.split.count
        self.batches = len(self.tiles) * self.per_tile
        self.buffer = OperandBuffer(env, self.ports, self.batches, self.load_bits, self.stats)
        self.rng = RngBanks(config)
        self.comparators = Comparators(essop.bitstream_length)
        self.ands = AndArray(essop.bitstream_length, essop.bits_per_cycle)
        self.counters = Counters(essop.pipeline_stages, essop.bits_per_cycle)
        self.scaler = ShiftScaler(essop.shift_scaler_latency)
        self.drain = PipelineDrain(env)
        self.writeback = WritebackUnit(env, self.ports, len(self.tiles), self.drain.final,
                                       self.tile_bits, self.stats)
        self.broadcast = [self.rng.broadcast_factor(t) for t in self.tiles]
        self.step_cycles = [self.ands.step_cycles(g) for g in self.broadcast]
        self.fast_forward = (FastForward(self.stats, _ARRAY_BUSY, _ARRAY_STALLS)
                             if fast_forward else None)
        self.compute_end = 0
        act = self.stats.activity
        for tile, s in zip(self.tiles, self.step_cycles, strict=True):
            self.rng.count(tile, K, act)
            self.comparators.count(tile, K, act)
            self.ands.count(tile, K, act)
            self.scaler.count(tile, K, act)
            self.counters.count(tile, K, K * s, act)

    def run(self):
        """Simulate; as :meth:`DatapathRun.run`, except that the cycles the last tile, final,
        waits for the shadow register (tile u-1's write-back) are a 'writeback' stall, not
        'drain': 'drain' is then exactly P + the last write-back (docs/timing.md)."""
        cycles, stats = super().run()
        wait = self.writeback.shadow_wait
        stats.stalls["writeback"] += wait
        stats.stalls["drain"] -= wait
        return cycles, stats

    def load_bits(self, j: int) -> int:
        """Bits loaded for global batch j: k-steps * (rows + cols) * operand_bits."""
        u, i = divmod(j, self.per_tile)
        tile = self.tiles[u]
        return self.split.size(i) * (tile.rows + tile.cols) * self.operand_bits

    def tile_bits(self, u: int) -> int:
        """Bits written back for tile u: rows * cols * accumulator_bits."""
        tile = self.tiles[u]
        return tile.rows * tile.cols * self.accumulator_bits

    def _certified(self, j: int, u: int) -> bool:
        """No outside interaction can reach the loader/array pair from this decision point."""
        if self.ports.shared and self.writeback.completed < u:
            return False
        return self.buffer.last_started == j

    def array(self):
        """The array: stream batches in order, stalling for operands or the shadow register."""
        env, st, buf, ff = self.env, self.stats, self.buffer, self.fast_forward
        busy, stalls = st.busy, st.stalls
        latency = self.scaler.latency
        bit_steps = self.ands.bit_steps
        last_full = self.split.last_full
        j = 0
        while j < self.batches:
            u, i = divmod(j, self.per_tile)
            cut = env.now
            if ff is not None:
                if 1 <= i < last_full and self._certified(j, u):
                    skip = ff.consider(u, i, last_full, (buf.last_end - cut,), cut)
                    if skip is not None:
                        count, shift = skip
                        buf.skip = Skip(j, count, shift)
                        yield env.timeout(shift)
                        buf.release(j - 1 + count)   # batch j-1+count ends now, like j-1 did
                        j += count
                        continue
                else:
                    ff.reset()
            loaded = buf.loaded.get(j)
            done = yield loaded
            buf.loaded.drop(j)
            ready = done + latency
            if ready > env.now:
                yield env.timeout(ready - env.now)
            if i == 0 and u >= 2:
                yield self.writeback.done.get(u - 2)   # shadow must be free for tile u-1
            start = env.now
            if j == 0:
                stalls["fill"] += start
            else:
                waiting_operands = max(0, min(ready, start) - cut)
                stalls["operand"] += waiting_operands
                stalls["writeback"] += start - cut - waiting_operands
            nk = self.split.size(i)
            g = self.broadcast[u]
            stream = nk * self.step_cycles[u]
            yield env.timeout(stream)
            ands = nk * bit_steps
            busy["rng_bank"] += stream
            busy["comparators"] += stream
            busy["and_array"] += ands
            busy["counters"] += ands
            busy["shift_scaler"] += nk
            busy["accumulators"] += nk
            stalls["rng"] += (g - 1) * ands
            st.events += 1
            buf.release(j)
            if i == self.per_tile - 1:
                self.drain.finish(u, self.counters.pipeline_stages)
            j += 1
        self.compute_end = env.now


def closed_form_terms(config: HardwareConfig, m: int, n: int, K: int) -> dict[str, int]:
    """The terms of ESSOP's stall-free cycle count (cycles); their sum is the total.

    'load' (first batch load, ceil(min(V, K) * (r0 + c0) * operand_bits / read_bw)), 'scaler'
    (shift_scaler_latency), 'compute' (tiles * K * ceil(BL / bits_per_cycle)), 'pipeline'
    (pipeline_stages), 'writeback' (last tile, ceil(r * c * accumulator_bits / write_bw)).
    """
    mem, essop = config.memory, config.essop
    tiles, split = essop_geometry(config, m, n, K)
    first, last = tiles[0], tiles[-1]
    return {
        "load": ceil_div(split.size(0) * (first.rows + first.cols) * mem.operand_bits,
                         mem.read_bandwidth),
        "scaler": essop.shift_scaler_latency,
        "compute": len(tiles) * K * ceil_div(essop.bitstream_length, essop.bits_per_cycle),
        "pipeline": essop.pipeline_stages,
        "writeback": ceil_div(last.rows * last.cols * essop.accumulator_bits,
                              mem.write_bandwidth),
    }
