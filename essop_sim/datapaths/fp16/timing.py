"""The pipelined FP16 baseline as a SimPy event model composed of its blocks.

Processes: the loader (:class:`~essop_sim.hw.operand_buffer.OperandBuffer`, batches of
``fp16_batch_steps`` k-steps of the whole x and delta vectors), the multiplier array (this
module: issues the flat product stream, one group of ``multipliers`` products per
``issue_interval`` slot), the pipeline drain (results final D cycles after the last issue) and
the write-back unit (all m * n accumulators, one burst).

A group needs the operands of every product in it; batches load in order, so it may issue once
the batch holding its *last* product is loaded (that batch "owns" the group). A buffer half is
released when the group holding the batch's last product has finished its issue slot; when that
group straddles into the next batch, the release happens one slot into the next batch.
"""

from __future__ import annotations

import simpy

from ...config import HardwareConfig
from ...hw.counters import PipelineDrain
from ...hw.fastforward import FastForward
from ...hw.operand_buffer import MemoryPorts, OperandBuffer, Skip
from ...hw.scheduler import ceil_div
from ...hw.sim import DatapathRun, Stats
from ...hw.writeback import WritebackUnit
from .geometry import fp16_accumulator_bits, fp16_cells, fp16_geometry
from .pipeline import Fp16Multipliers

#: Busy-cycle keys reported for the FP16 baseline (block -> cycles).
FP16_BLOCKS = ("read_port", "write_port", "shadow", "multipliers", "pipeline", "accumulators")
_ARRAY_BUSY = ("multipliers", "pipeline", "accumulators")
_ARRAY_STALLS = ("operand",)


class Fp16EventModel(DatapathRun):
    """One FP16-baseline update of shape [m, n] summed over K, ready to :meth:`run`."""

    def __init__(self, config: HardwareConfig, m: int, n: int, K: int,
                 fast_forward: bool = True):
        self.split = fp16_geometry(config, m, n, K)
        mem = config.memory
        self.m, self.n, self.K = m, n, K
        self.cells = fp16_cells(config, m, n)   # m * n, or W with a mask
        self.operand_bits = mem.operand_bits
        self.env = env = simpy.Environment()
        self.stats = Stats(FP16_BLOCKS)
        self.ports = MemoryPorts(env, mem.shared_port, mem.read_bandwidth, mem.write_bandwidth)
        self.batches = self.split.count
        self.buffer = OperandBuffer(env, self.ports, self.batches, self.load_bits, self.stats)
        self.mult = Fp16Multipliers(config, m, n, K)
        self.drain = PipelineDrain(env)
        self.writeback = WritebackUnit(env, self.ports, 1, self.drain.final, self.tile_bits,
                                       self.stats)
        self.fast_forward = (FastForward(self.stats, _ARRAY_BUSY, _ARRAY_STALLS)
                             if fast_forward else None)
        self.compute_end = 0
        self.mult.count(self.stats.activity)

    def load_bits(self, j: int) -> int:
        """Bits loaded for batch j: k-steps * (m + n) * operand_bits."""
        return self.split.size(j) * (self.m + self.n) * self.operand_bits

    def tile_bits(self, _u: int) -> int:
        """Bits written back: m * n (W with a mask) * accumulator width (16 or 32)."""
        return self.cells * self.mult.accumulator_bits

    def array(self):
        """The multiplier array: issue each batch's groups once its operands are loaded."""
        env, st, buf, mult, ff = self.env, self.stats, self.buffer, self.mult, self.fast_forward
        busy, stalls = st.busy, st.stalls
        ii, M = mult.issue_interval, mult.multipliers
        per_batch = self.split.steps * self.cells   # products per full batch
        last_full = self.split.last_full
        pending = None      # batch whose half waits for the straddling group to issue
        flight_end = 0      # boundary until which products are in flight
        j = 0
        while j < self.batches:
            cut = env.now
            first = j * per_batch
            if ff is not None:
                if 1 <= j < last_full and buf.last_started == j:
                    state = (buf.last_end - cut, first % M, pending is not None,
                             max(0, flight_end - cut))
                    skip = ff.consider(0, j, last_full, state, cut)
                    if skip is not None:
                        count, shift = skip
                        buf.skip = Skip(j, count, shift)
                        if pending is not None:
                            buf.release(pending)   # wakes the loader, which reads the skip
                        yield env.timeout(shift)
                        flight_end += shift
                        if pending is not None:
                            pending = j - 1 + count
                        else:
                            buf.release(j - 1 + count)
                        j += count
                        continue
                else:
                    ff.reset()
            done = yield buf.loaded.get(j)
            buf.loaded.drop(j)
            start = env.now
            if j == 0:
                stalls["fill"] += start
            else:
                stalls["operand"] += start - cut
            last = j == self.batches - 1
            end = min(first + per_batch, mult.products)
            groups = mult.groups_owned(first, end, last)
            assert done <= start and groups >= 1
            if last:   # results final D cycles after the last group's issue cycle
                self.drain.finish(0, (groups - 1) * ii + mult.depth)
            added, flight_end = mult.in_flight(start, groups, flight_end)
            busy["pipeline"] += added
            busy["multipliers"] += groups * ii
            busy["accumulators"] += groups
            if pending is not None:
                yield env.timeout(ii)
                buf.release(pending)
                pending = None
                yield env.timeout((groups - 1) * ii)
            else:
                yield env.timeout(groups * ii)
            st.events += 1
            if last or end % M == 0:
                buf.release(j)
            else:
                pending = j
            j += 1
        self.compute_end = env.now


def closed_form_terms(config: HardwareConfig, m: int, n: int, K: int) -> dict[str, int]:
    """The terms of the FP16 baseline's stall-free cycle count (cycles).

    'load' (first batch), 'compute' (G * II with G = ceil(m*n*K / multipliers)), 'pipeline'
    (D - II: the last product leaves D cycles after its issue cycle, which starts II cycles
    before the compute term ends), 'writeback' (ceil(m * n * acc_bits / write_bw)). The total
    is load + compute + max(0, pipeline + writeback) (:func:`closed_form_cycles`); for II = 1,
    load + ceil(products / multipliers) + D - 1 + writeback.
    """
    mem, fp = config.memory, config.fp16
    split = fp16_geometry(config, m, n, K)
    cells = fp16_cells(config, m, n)
    return {
        "load": ceil_div(split.size(0) * (m + n) * mem.operand_bits, mem.read_bandwidth),
        "compute": ceil_div(cells * K, fp.multipliers) * fp.issue_interval,
        "pipeline": fp.pipeline_depth - fp.issue_interval,
        "writeback": ceil_div(cells * fp16_accumulator_bits(config), mem.write_bandwidth),
    }


def closed_form_cycles(config: HardwareConfig, m: int, n: int, K: int) -> int:
    """load + compute + max(0, pipeline + writeback) of :func:`closed_form_terms`."""
    t = closed_form_terms(config, m, n, K)
    return t["load"] + t["compute"] + max(0, t["pipeline"] + t["writeback"])
