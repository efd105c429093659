"""The shared parts of the per-cycle reference models that validate each datapath's event model.

Each datapath's ``reference.py`` is a plain loop over clock cycles that steps every block once per
cycle, built on the memory side defined here (ports, loader, shadow register, write-back). It
shares no timing code with the event models (no SimPy, no block classes); it imports only the
tile and batch geometry. Every rule is re-stated from docs/timing.md. :func:`reference_timing`
runs the reference of ``config.datapath``.

Each iteration first settles the cycle boundary t, in this order:

1. memory transfers whose last cycle was t-1 complete (a load marks its batch loaded, a
   write-back empties the shadow register); a tiled array's loader also marks every k-step
   whose vector pair has been written so far (per-entry valid bits);
2. tiles whose pipeline drain ended become final;
3. a final tile moves into the shadow register if it is empty, and requests the write port;
4. the array (or multiplier array) starts its next batch (or issue group) if it is idle and
   the start conditions hold;
5. the loader requests the read port for its next batch if that batch's buffer half is free;
6. each free port is granted: a waiting write-back before a waiting load;

then runs cycle t: each port transfers, the shadow register holds, the array streams (or is
stalled, and the stall cycle is labelled with its cause), the pipelines advance. The run ends at
the first boundary at which every write-back has completed and the array is idle.

Runtime grows with cycles (tens of thousands per second): small cases only.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from ..config import HardwareConfig


@dataclass
class ReferenceResult:
    """What the per-cycle model measured (cycles, block -> busy cycles, cause -> stall cycles,
    bits moved)."""

    cycles: int
    busy: dict[str, int] = field(default_factory=dict)
    stalls: dict[str, int] = field(default_factory=dict)
    bits_read: int = 0
    bits_written: int = 0


def up(a: int, b: int) -> int:
    return (a + b - 1) // b


class Port:
    """A memory port stepped per cycle: idle, or in a transfer with cycles left."""

    def __init__(self, name_load: str, name_write: str):
        self.job: tuple[str, int] | None = None
        self.left = 0
        self.names = {"load": name_load, "wb": name_write}

    def complete(self) -> tuple[str, int] | None:
        """At a boundary: the finished transfer, if the current one has no cycle left."""
        if self.job is not None and self.left == 0:
            job, self.job = self.job, None
            return job
        return None

    def tick(self, busy: dict[str, int]) -> None:
        if self.job is not None:
            busy[self.names[self.job[0]]] += 1
            self.left -= 1


class ReferenceMemory:
    """Ports, loader and write-back side shared in structure by both reference datapaths."""

    def __init__(self, config: HardwareConfig, load_cycles: list[int], wb_cycles: list[int]):
        mem = config.memory
        self.shared = mem.shared_port
        self.read = Port("read_port", "write_port")
        self.write = self.read if self.shared else Port("read_port", "write_port")
        self.load_cycles = load_cycles
        self.wb_cycles = wb_cycles
        self.loaded_at: list[int | None] = [None] * len(load_cycles)
        self.next_load = 0
        self.loader_busy = False
        self.load_wanted = False
        self.wb_done_at: list[int | None] = [None] * len(wb_cycles)
        self.final_waiting: deque[int] = deque()
        self.shadow: int | None = None
        self.wb_wanted: int | None = None
        self.drain: list[list[int]] = []   # [tile, cycles left] entries of the pipeline drain

    def settle_completions(self, t: int) -> list[int]:
        """Complete finished transfers; return the batches whose load completed."""
        loaded = []
        for port in {id(self.read): self.read, id(self.write): self.write}.values():
            job = port.complete()
            if job is None:
                continue
            kind, idx = job
            if kind == "load":
                self.loaded_at[idx] = t
                self.loader_busy = False
                loaded.append(idx)
            else:
                self.wb_done_at[idx] = t
                self.shadow = None
        return loaded

    def settle_drain_and_shadow(self) -> None:
        for entry in [e for e in self.drain if e[1] == 0]:
            self.final_waiting.append(entry[0])
            self.drain.remove(entry)
        if self.shadow is None and self.final_waiting:
            self.shadow = self.final_waiting.popleft()
            self.wb_wanted = self.shadow

    def settle_loader(self, half_free) -> None:
        j = self.next_load
        if (not self.loader_busy and not self.load_wanted and j < len(self.load_cycles)
                and (j < 2 or half_free(j - 2))):
            self.load_wanted = True

    def settle_arbitration(self) -> None:
        if self.wb_wanted is not None and self.write.job is None:
            u = self.wb_wanted
            self.write.job, self.write.left = ("wb", u), self.wb_cycles[u]
            self.wb_wanted = None
        if self.load_wanted and self.read.job is None:
            j = self.next_load
            self.read.job, self.read.left = ("load", j), self.load_cycles[j]
            self.load_wanted = False
            self.loader_busy = True
            self.next_load += 1

    def all_written(self) -> bool:
        return all(d is not None for d in self.wb_done_at)

    def tick(self, busy: dict[str, int]) -> None:
        self.read.tick(busy)
        if self.write is not self.read:
            self.write.tick(busy)
        if self.shadow is not None:
            busy["shadow"] += 1
        for entry in self.drain:
            entry[1] -= 1


def new_stalls(causes=("fill", "operand", "rng", "writeback", "drain")) -> dict[str, int]:
    """cause -> 0 for the stall causes of the built-in datapaths (or the ones given)."""
    return dict.fromkeys(causes, 0)


def reference_timing(config: HardwareConfig, m: int, n: int, K: int, *,
                     hints: dict | None = None, max_cycles: int = 2_000_000) -> ReferenceResult:
    """Per-cycle timing of ``config.datapath`` for an [m, n] update summed over K."""
    from ..datapaths.registry import datapath_of

    return datapath_of(config).reference_timing(config, m, n, K, hints=hints or {},
                                                max_cycles=max_cycles)


def reference_tiled(config: HardwareConfig, tiles, split, *, front_latency: int,
                    pipeline_stages: int, accumulate_cycles: int, accumulator_bits: int,
                    blocks, stall_causes, step_cycles, on_cycle, max_cycles: int = 2_000_000,
                    writeback_bits=None) -> ReferenceResult:
    """Per-cycle timing of a tiled cell array (ESSOP, bit-serial, CBRAM), on the memory side
    above; every rule re-stated from docs/timing.md, no code shared with the event model.

    Per k-step: a load writes its batch's k-steps in order, one vector pair after the other, so
    k-step i of a batch has arrived once its load has moved (i + 1) vector pairs' bits (bits moved
    = cycles of transfer * read bandwidth); it is ready ``front_latency`` cycles later. The array
    streams k-step after k-step, each once it is ready, k-step k of tile u taking
    ``step_cycles(u)`` cycles; a tile's first k-step (tile u >= 2) also waits for tile u-2's
    write-back (the shadow register must be free for tile u-1). ``on_cycle(u, c, busy,
    stalls)`` labels the datapath's blocks in cycle c (0-based) of a k-step. A batch's buffer half
    is free once its last k-step has ended. A tile is final ``pipeline_stages`` +
    ``accumulate_cycles`` cycles after its last k-step (the P register stages, then the
    datapath's accumulate stage); the array's idle cycles are labelled 'fill' (before the first
    k-step), 'drain' (after the last: the last tile's wait, final, for the shadow register is
    'writeback'), 'operand' (the next k-step not ready) or 'writeback' (ready, waiting for the
    shadow).
    ``writeback_bits(tile)`` gives a tile's write-back bits (default rows x cols x
    ``accumulator_bits``; the edge processor writes its W per-edge accumulators).
    """
    mem = config.memory
    per_tile = split.count
    nbatch = len(tiles) * per_tile

    def geometry(j: int):
        u, i = divmod(j, per_tile)
        return u, i, tiles[u], split.size(i)

    load_cycles = [up(nk * (tile.rows + tile.cols) * mem.operand_bits, mem.read_bandwidth)
                   for _, _, tile, nk in map(geometry, range(nbatch))]
    if writeback_bits is None:
        def writeback_bits(tl):
            return tl.rows * tl.cols * accumulator_bits
    wb_cycles = [up(writeback_bits(tl), mem.write_bandwidth) for tl in tiles]
    memory = ReferenceMemory(config, load_cycles, wb_cycles)
    busy = dict.fromkeys(blocks, 0)
    stalls = dict.fromkeys(stall_causes, 0)
    computed = [False] * nbatch
    arrived = [0] * nbatch                # k-steps of each batch written into the buffer
    front: list[list] = []                # [(batch, k-step), cycles left] in the front end
    ready: set[tuple[int, int]] = set()   # k-steps whose vectors reached the array
    next_batch = 0
    next_k = 0                            # next k-step of next_batch
    active = None                         # [batch, k, cycle in k-step, u] of a running k-step
    t = 0
    while True:
        if t > max_cycles:
            raise RuntimeError(f"reference did not finish in {max_cycles} cycles")
        # --- boundary t
        job = memory.read.job
        if job is not None and job[0] == "load":   # vector pairs written so far
            j = job[1]
            _, _, tile, nk = geometry(j)
            moved = (load_cycles[j] - memory.read.left) * mem.read_bandwidth
            count = nk if memory.read.left == 0 else min(
                nk, moved // ((tile.rows + tile.cols) * mem.operand_bits))
            for k in range(arrived[j], count):
                front.append([(j, k), front_latency])
            arrived[j] = max(arrived[j], count)
        memory.settle_completions(t)
        for entry in [e for e in front if e[1] == 0]:
            ready.add(entry[0])
            front.remove(entry)
        memory.settle_drain_and_shadow()
        if active is None and next_batch < nbatch:
            u, i, _tile, nk = geometry(next_batch)
            shadow_ok = next_k != 0 or i != 0 or u < 2 or memory.wb_done_at[u - 2] is not None
            if (next_batch, next_k) in ready and shadow_ok:
                active = [next_batch, next_k, 0, u]
        memory.settle_loader(lambda j: computed[j])
        memory.settle_arbitration()
        if memory.all_written() and active is None and next_batch == nbatch:
            break
        # --- cycle t
        memory.tick(busy)
        for entry in front:
            entry[1] -= 1
        if active is not None:
            j, k, c, u = active
            on_cycle(u, c, busy, stalls)
            active[2] = c = c + 1
            if c == step_cycles(u):
                active = None
                ready.discard((j, k))
                next_k += 1
                _, i, _tile, nk = geometry(j)
                if next_k == nk:
                    computed[j] = True
                    next_batch += 1
                    next_k = 0
                    if i == per_tile - 1:
                        memory.drain.append([u, pipeline_stages + accumulate_cycles])
        elif next_batch == 0 and next_k == 0:
            stalls["fill"] += 1
        elif next_batch == nbatch:
            stalls["writeback" if memory.final_waiting else "drain"] += 1
        elif (next_batch, next_k) not in ready:
            stalls["operand"] += 1
        else:
            stalls["writeback"] += 1
        t += 1
    bits_read = sum(nk * (tile.rows + tile.cols) * mem.operand_bits
                    for _, _, tile, nk in map(geometry, range(nbatch)))
    bits_written = sum(writeback_bits(tl) for tl in tiles)
    return ReferenceResult(t, busy, stalls, bits_read, bits_written)
