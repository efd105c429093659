"""The sequencing every tiled cell array shares (ESSOP, bit-serial, CBRAM): a SimPy event model.

An [m, n] update is cut into tiles of the R x C array (:mod:`essop_sim.hw.scheduler`); each
tile processes all K outer products, in batches of operand-buffer halves. Processes:

- loader (:class:`~essop_sim.hw.operand_buffer.OperandBuffer`): loads batch after batch into
  alternating buffer halves over the read port;
- array (:meth:`TiledArrayRun.array`): streams the batch's k-steps, ``step_cycles(u)`` cycles
  each; k-step i may start once its vector pair has arrived over the read port and passed the
  front end (e.g. ESSOP's shift scaler), i.e. at load start + ceil((i + 1) * vector bits /
  read bandwidth) + front latency, and a tile's first k-step also waits for the shadow register
  to be free of tile u-2;
- pipeline drain (:class:`~essop_sim.hw.counters.PipelineDrain`): a tile is final P + a cycles
  after its last compute cycle (P the pipeline stages, a the datapath's accumulate stage);
- write-back (:class:`~essop_sim.hw.writeback.WritebackUnit`): shadow move and burst of
  rows x cols x accumulator bits.

A datapath subclasses :class:`TiledArrayRun` with its blocks: ``step_cycles(u)`` (cycles of one
k-step on tile u) and ``account(u, nk, stream)`` (the busy and stall cycles its blocks add for a
batch of nk k-steps streamed in ``stream`` cycles). Events are transactions (one batch load, one
batch of k-steps, one write-back burst, one fast-forwarded run of identical batches), each with
exact cycle stamps. The rules are in docs/timing.md.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

import simpy

from .counters import PipelineDrain
from .fastforward import FastForward
from .operand_buffer import MemoryPorts, OperandBuffer, Skip
from .scheduler import BatchSplit, Tile, ceil_div
from .sim import DatapathRun, Stats
from .writeback import WritebackUnit


class TiledArrayRun(DatapathRun):
    """One tiled-array update, ready to :meth:`run`.

    Args:
        config: hardware configuration (its ``memory`` section is used here).
        tiles, split: the update's tiles and per-tile batch split.
        blocks: busy-cycle keys (block -> cycles) the datapath reports.
        stall_causes: stall keys reported ('fill', 'operand', 'writeback' and 'drain' are set
            here; others, e.g. ESSOP's 'rng', by :meth:`account`).
        array_busy, array_stalls: the busy and stall keys a fast-forwarded run of identical
            batches advances.
        front_latency: cycles from a k-step's vectors arriving to the k-step starting (cycles).
        pipeline_stages: P, register stages from the compute cycle to the accumulate stage
            (cycles).
        accumulate_cycles: a, the datapath's accumulate stage: cycles after the P stages until
            the accumulators hold the result (cycles). A tile is final P + a cycles after its
            last compute cycle.
        accumulator_bits: bits written back per cell.
        fast_forward: skip provably periodic runs of identical batches (exact).
    """

    def __init__(self, config: Any, tiles: Sequence[Tile], split: BatchSplit, *,
                 blocks: Sequence[str], stall_causes: Sequence[str],
                 array_busy: Sequence[str], array_stalls: Sequence[str], front_latency: int,
                 pipeline_stages: int, accumulate_cycles: int, accumulator_bits: int,
                 fast_forward: bool = True):
        mem = config.memory
        self.tiles, self.split = list(tiles), split
        self.operand_bits = mem.operand_bits
        self.accumulator_bits = accumulator_bits
        self.front_latency = front_latency
        self.pipeline_stages = pipeline_stages
        self.accumulate_cycles = accumulate_cycles
        self.env = env = simpy.Environment()
        self.stats = Stats(tuple(blocks))
        self.stats.stalls = dict.fromkeys(stall_causes, 0)
        self.ports = MemoryPorts(env, mem.shared_port, mem.read_bandwidth, mem.write_bandwidth)
        self.per_tile = split.count
        self.batches = len(self.tiles) * self.per_tile
        self.buffer = OperandBuffer(env, self.ports, self.batches, self.load_bits, self.stats)
        self.drain = PipelineDrain(env)
        self.writeback = WritebackUnit(env, self.ports, len(self.tiles), self.drain.final,
                                       self.tile_bits, self.stats)
        self.fast_forward = (FastForward(self.stats, tuple(array_busy), tuple(array_stalls))
                             if fast_forward else None)
        self.compute_end = 0

    @abstractmethod
    def step_cycles(self, u: int) -> int:
        """Cycles one k-step (outer product) occupies the array on tile u."""

    @abstractmethod
    def account(self, u: int, nk: int, stream: int) -> None:
        """Add the busy (and datapath-specific stall) cycles of a batch of ``nk`` k-steps of
        tile u streamed in ``stream`` cycles to ``self.stats``."""

    def run(self) -> tuple[int, Stats]:
        """Simulate; as :meth:`DatapathRun.run`, except that the cycles the last tile, final,
        waits for the shadow register (tile u-1's write-back) are a 'writeback' stall, not
        'drain': 'drain' is then exactly P + a + the last write-back (docs/timing.md)."""
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
        stalls = st.stalls
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
            load_start = yield buf.started.get(j)
            buf.started.drop(j)
            nk = self.split.size(i)
            tile = self.tiles[u]
            vector_bits = (tile.rows + tile.cols) * self.operand_bits
            # k-step 0 is ready once its vector pair has arrived and passed the front end
            ready = load_start + self.ports.read_cycles(vector_bits) + self.front_latency
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
            # Later k-steps: k-step i ends at max(e_{i-1}, ready_i) + S. The arrival offsets
            # ceil((i+1) * bits / bw) - i * S peak at i = 0 (load no slower than compute) or at
            # the last k-step (slower), so the batch ends at the later of the two bounds.
            step = self.step_cycles(u)
            stream = nk * step
            last_ready = (load_start + self.ports.read_cycles(nk * vector_bits)
                          + self.front_latency)
            end = max(start + stream, last_ready + step)
            stalls["operand"] += end - start - stream
            yield env.timeout(end - start)
            self.account(u, nk, stream)
            st.events += 1
            buf.release(j)
            if i == self.per_tile - 1:
                self.drain.finish(u, self.pipeline_stages + self.accumulate_cycles)
            j += 1
        self.compute_end = env.now


def tiled_closed_form(config: Any, tiles: Sequence[Tile], K: int, *, front: tuple[str, int],
                      step_cycles: int, pipeline_stages: int, accumulate_cycles: int,
                      accumulator_bits: int) -> dict[str, int]:
    """The stall-free cycle terms of a tiled array whose k-step takes ``step_cycles`` on every
    tile (cycles; their sum is the total, exact when no 'operand' or 'writeback' stall occurs):
    'load' (the first k-step's vector pair, ceil((r0 + c0) * operand_bits / read_bw)), the front
    end (``front`` = (name, latency)), 'compute' (tiles * K * step_cycles), 'pipeline'
    (pipeline_stages), 'accumulate' (accumulate_cycles), 'writeback' (last tile,
    ceil(r * c * accumulator_bits / write_bw))."""
    mem = config.memory
    first, last = tiles[0], tiles[-1]
    name, latency = front
    return {
        "load": ceil_div((first.rows + first.cols) * mem.operand_bits, mem.read_bandwidth),
        name: latency,
        "compute": len(tiles) * K * step_cycles,
        "pipeline": pipeline_stages,
        "accumulate": accumulate_cycles,
        "writeback": ceil_div(last.rows * last.cols * accumulator_bits, mem.write_bandwidth),
    }
