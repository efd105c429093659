"""The pipelined FP16 baseline as a SimPy event model composed of its blocks.

Processes: the loader (:class:`~essop_sim.hw.operand_buffer.OperandBuffer`, batches of V
k-steps of the whole x and delta vectors), the multiplier array (this module: issues the flat
product stream, one issue slot of ``issue_interval`` cycles at a time), the pipeline drain
(results final D cycles after the last issue) and the write-back unit (all m * n accumulators,
one burst).

A load writes its k-steps in order: k-step i of a load started at s has arrived at
s + ceil((i + 1) * (m + n) * operand_bits / read_bw), and with it its m * n products. A free
multiplier array issues, in each slot, the next min(M, arrived and not yet issued) products
(a partial group when fewer than M are in); it waits only when none is. A buffer half is
released at the end of the slot that issued the batch's last product. See docs/timing.md.
"""

from __future__ import annotations

import simpy

from ...config import HardwareConfig
from ...hw.counters import PipelineDrain
from ...hw.fastforward import FastForward
from ...hw.operand_buffer import MemoryPorts, OperandBuffer, Skip
from ...hw.scheduler import ceil_div, check_shape
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
        """The multiplier array: issue slot after slot whatever has arrived, up to M products."""
        env, st, buf, mult, ff = self.env, self.stats, self.buffer, self.mult, self.fast_forward
        busy, stalls = st.busy, st.stalls
        ii, M, N = mult.issue_interval, mult.multipliers, mult.products
        mn, V, nbatch = self.cells, self.split.steps, self.batches   # products per k-step
        per_batch = V * mn                       # products per full batch
        vector_bits = (self.m + self.n) * self.operand_bits
        bandwidth = self.ports.read_bandwidth
        last_full = self.split.last_full
        flight_end = 0      # boundary until which products are in flight
        issued = 0          # products issued so far
        rel = 0             # next batch to release
        known, known_start = -1, 0   # last load seen to start, and its start (None: arrived)
        while issued < N:
            now = env.now
            while known + 1 < nbatch and buf.started.get(known + 1).triggered:
                known += 1
                known_start = buf.started.get(known).value
                buf.started.drop(known)
            size = self.split.size(known) if known >= 0 else 0
            if known_start is None:
                got = size
            else:
                got = min(size, (now - known_start) * bandwidth // vector_bits)
            backlog = (max(known, 0) * V + got) * mn - issued
            if backlog <= 0:   # nothing to issue: wait for the next k-step's vectors
                if known >= 0 and got < size:
                    arrive = known_start + self.ports.read_cycles((got + 1) * vector_bits)
                    yield env.timeout(arrive - now)
                else:
                    yield buf.started.get(known + 1)
                stalls["fill" if issued == 0 else "operand"] += env.now - now
                continue
            if backlog >= M:   # full slots, up to the one that issues batch rel's last product
                last_product = min((rel + 1) * per_batch, N) - 1
                slots = min(backlog // M, (last_product - issued) // M + 1)
                take = slots * M
            else:              # a partial group of whatever has arrived
                slots, take = 1, backlog
            if issued + take == N:   # results final D cycles after the last issue cycle
                self.drain.finish(0, (slots - 1) * ii + mult.depth)
            added, flight_end = mult.in_flight(now, slots, flight_end)
            busy["pipeline"] += added
            busy["multipliers"] += slots * ii
            busy["accumulators"] += slots
            issued += take
            yield env.timeout(slots * ii)
            st.events += 1
            released = False
            while rel < nbatch and min((rel + 1) * per_batch, N) <= issued:
                buf.release(rel)
                rel += 1
                released = True
            if ff is None or not released:
                continue
            # Decision point: batches < j released, the array free. Certified when load j is
            # the last load started (load j+1 waits for the half just released).
            j, cut = rel, env.now
            if 1 <= j < last_full and buf.last_started == j:
                state = (max(0, buf.last_end - cut), issued - j * per_batch,
                         max(0, flight_end - cut))
                skip = ff.consider(0, j, last_full, state, cut)
                if skip is not None:
                    count, shift = skip
                    buf.skip = Skip(j, count, shift)
                    yield env.timeout(shift)
                    flight_end += shift
                    issued += count * per_batch
                    if count > 1:   # loads j+1 .. j+count-1 were skipped
                        buf.started.drop(j + 1)
                    known, known_start = j + count - 1, None
                    buf.release(j - 1 + count)   # batch j-1+count ends now, like j-1 did
                    rel = j + count
            else:
                ff.reset()
        self.compute_end = env.now


def closed_form_terms(config: HardwareConfig, m: int, n: int, K: int) -> dict[str, int]:
    """The terms of the FP16 baseline's stall-free cycle count (cycles).

    'load' (the first k-step's vectors, ceil((m + n) * operand_bits / read_bw)), 'compute'
    (G * II with G = ceil(m*n*K / multipliers)), 'pipeline' (D - II: the last product leaves D
    cycles after its issue cycle, which starts II cycles before the compute term ends),
    'writeback' (ceil(m * n * acc_bits / write_bw)). The total is load + compute + max(0,
    pipeline + writeback) (:func:`closed_form_cycles`); for II = 1, load + ceil(products /
    multipliers) + D - 1 + writeback. Exact when there is no operand stall and no partial
    issue group before the last (busy['multipliers'] = G * II); a lower bound otherwise.
    """
    mem, fp = config.memory, config.fp16
    check_shape(m, n, K)
    cells = fp16_cells(config, m, n)
    return {
        "load": ceil_div((m + n) * mem.operand_bits, mem.read_bandwidth),
        "compute": ceil_div(cells * K, fp.multipliers) * fp.issue_interval,
        "pipeline": fp.pipeline_depth - fp.issue_interval,
        "writeback": ceil_div(cells * fp16_accumulator_bits(config), mem.write_bandwidth),
    }


def closed_form_cycles(config: HardwareConfig, m: int, n: int, K: int) -> int:
    """load + compute + max(0, pipeline + writeback) of :func:`closed_form_terms`."""
    t = closed_form_terms(config, m, n, K)
    return t["load"] + t["compute"] + max(0, t["pipeline"] + t["writeback"])
