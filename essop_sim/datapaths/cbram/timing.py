"""The CBRAM datapath as a SimPy event model, on the shared memory model.

Processes: the loader (:class:`~essop_sim.hw.operand_buffer.OperandBuffer`), the array (this
module: for each batch, wait for its operands (load done + shift-scaler latency) and, at a tile's
first batch, for the shadow register to be free of tile u-2; then stream the batch's k-steps,
ceil(BL / d) bit periods of SET + read + RESET cycles each), the pipeline drain
(:class:`~essop_sim.hw.counters.PipelineDrain`) and the write-back
(:class:`~essop_sim.hw.writeback.WritebackUnit`). ESSOP's sequencing with a bit period in place
of one cycle per bit and no RNG broadcast; see docs/cbram.md, "Timing".
"""

from __future__ import annotations

import simpy

from ...hw.counters import PipelineDrain
from ...hw.fastforward import FastForward
from ...hw.operand_buffer import MemoryPorts, OperandBuffer, Skip
from ...hw.scheduler import ceil_div
from ...hw.sim import DatapathRun, Stats
from ...hw.writeback import WritebackUnit
from .geometry import bit_period, bit_periods, cbram_geometry, phase_cycles

#: Busy-cycle keys (block -> cycles).
BLOCKS = ("read_port", "write_port", "shadow", "shift_scaler", "pulse_generators", "devices",
          "sense_amps", "and_array", "counters", "accumulators")
#: Stall causes (no RNG broadcast in this datapath).
STALLS = ("fill", "operand", "writeback", "drain")
_ARRAY_BUSY = ("shift_scaler", "pulse_generators", "devices", "sense_amps", "and_array",
               "counters", "accumulators")
_ARRAY_STALLS = ("operand", "writeback")


class CbramEventModel(DatapathRun):
    """One CBRAM update of shape [m, n] summed over K."""

    def __init__(self, config, m: int, n: int, K: int, fast_forward: bool = True):
        self.tiles, self.split = cbram_geometry(config, m, n, K)
        c, mem = config.cbram, config.memory
        self.operand_bits = mem.operand_bits
        self.accumulator_bits = c.accumulator_bits
        self.periods = bit_periods(config)
        self.period = bit_period(config)
        self.set_cycles, self.read_cycles, _ = phase_cycles(config)
        self.steps = self.periods * self.period      # cycles per outer product
        self.latency = c.shift_scaler_latency
        self.pipeline_stages = c.pipeline_stages
        self.env = env = simpy.Environment()
        self.stats = Stats(BLOCKS)
        self.stats.stalls.pop("rng")
        self.ports = MemoryPorts(env, mem.shared_port, mem.read_bandwidth, mem.write_bandwidth)
        self.per_tile = self.split.count
        self.batches = len(self.tiles) * self.per_tile
        self.buffer = OperandBuffer(env, self.ports, self.batches, self.load_bits, self.stats)
        self.drain = PipelineDrain(env)
        self.writeback = WritebackUnit(env, self.ports, len(self.tiles), self.drain.final,
                                       self.tile_bits, self.stats)
        self.fast_forward = (FastForward(self.stats, _ARRAY_BUSY, _ARRAY_STALLS)
                             if fast_forward else None)
        self.compute_end = 0
        act = self.stats.activity
        bl = c.bitstream_length
        for tile in self.tiles:
            cells, lines = tile.rows * tile.cols, tile.rows + tile.cols
            act["set_pulses"] += K * bl * lines
            act["reads"] += K * bl * lines
            act["and_ops"] += cells * K * bl
            act["accumulator_adds"] += cells * K
            act["shift_ops"] += K * lines

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
        if self.ports.shared and self.writeback.completed < u:
            return False
        return self.buffer.last_started == j

    def array(self):
        """Stream batches in order, stalling for operands or for the shadow register."""
        env, st, buf, ff = self.env, self.stats, self.buffer, self.fast_forward
        busy, stalls = st.busy, st.stalls
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
                        buf.release(j - 1 + count)
                        j += count
                        continue
                else:
                    ff.reset()
            done = yield buf.loaded.get(j)
            buf.loaded.drop(j)
            ready = done + self.latency
            if ready > env.now:
                yield env.timeout(ready - env.now)
            if i == 0 and u >= 2:
                yield self.writeback.done.get(u - 2)
            start = env.now
            if j == 0:
                stalls["fill"] += start
            else:
                waiting = max(0, min(ready, start) - cut)
                stalls["operand"] += waiting
                stalls["writeback"] += start - cut - waiting
            nk = self.split.size(i)
            stream = nk * self.steps
            yield env.timeout(stream)
            periods = nk * self.periods
            busy["devices"] += stream
            busy["pulse_generators"] += periods * self.set_cycles
            busy["sense_amps"] += periods * self.read_cycles
            busy["and_array"] += periods
            busy["counters"] += periods
            busy["shift_scaler"] += nk
            busy["accumulators"] += nk
            st.events += 1
            buf.release(j)
            if i == self.per_tile - 1:
                self.drain.finish(u, self.pipeline_stages)
            j += 1
        self.compute_end = env.now


def closed_form_terms(config, m: int, n: int, K: int) -> dict[str, int]:
    """Terms of the stall-free cycle count: 'load' (first batch), 'scaler', 'compute'
    (tiles * K * ceil(BL / d) * (SET + read + RESET cycles)), 'pipeline', 'writeback'."""
    mem, c = config.memory, config.cbram
    tiles, split = cbram_geometry(config, m, n, K)
    first, last = tiles[0], tiles[-1]
    return {
        "load": ceil_div(split.size(0) * (first.rows + first.cols) * mem.operand_bits,
                         mem.read_bandwidth),
        "scaler": c.shift_scaler_latency,
        "compute": len(tiles) * K * bit_periods(config) * bit_period(config),
        "pipeline": c.pipeline_stages,
        "writeback": ceil_div(last.rows * last.cols * c.accumulator_bits, mem.write_bandwidth),
    }
