"""Per-cycle reference model of both datapaths, for validating the event model on small cases.

A plain loop over clock cycles that steps every block once per cycle. It shares no timing code
with the event model (no SimPy, no block classes); it imports only the tile and batch geometry of
:mod:`essop_sim.hw.scheduler`. Every rule is re-stated here from docs/timing.md.

Each iteration first settles the cycle boundary t, in this order:

1. memory transfers whose last cycle was t-1 complete (a load marks its batch loaded, a
   write-back empties the shadow register);
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
from .scheduler import essop_geometry, fp16_accumulator_bits, fp16_geometry


@dataclass
class ReferenceResult:
    """What the per-cycle model measured (cycles, block -> busy cycles, cause -> stall cycles,
    bits moved)."""

    cycles: int
    busy: dict[str, int] = field(default_factory=dict)
    stalls: dict[str, int] = field(default_factory=dict)
    bits_read: int = 0
    bits_written: int = 0


def _up(a: int, b: int) -> int:
    return (a + b - 1) // b


class _Port:
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


class _Memory:
    """Ports, loader and write-back side shared in structure by both reference datapaths."""

    def __init__(self, config: HardwareConfig, load_cycles: list[int], wb_cycles: list[int]):
        mem = config.memory
        self.shared = mem.shared_port
        self.read = _Port("read_port", "write_port")
        self.write = self.read if self.shared else _Port("read_port", "write_port")
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


def _new_stalls() -> dict[str, int]:
    return {"fill": 0, "operand": 0, "rng": 0, "writeback": 0, "drain": 0}


def reference_essop(config: HardwareConfig, m: int, n: int, K: int,
                    max_cycles: int = 2_000_000) -> ReferenceResult:
    """Per-cycle ESSOP timing (see module docstring)."""
    essop, mem = config.essop, config.memory
    tiles, split = essop_geometry(config, m, n, K)
    per_tile = split.count
    nbatch = len(tiles) * per_tile
    bl, b = essop.bitstream_length, essop.bits_per_cycle
    bit_steps = _up(bl, b)
    ls, stages = essop.shift_scaler_latency, essop.pipeline_stages
    fanout = essop.rng.fanout

    def geometry(j: int):
        u, i = divmod(j, per_tile)
        return u, i, tiles[u], split.size(i)

    def bcast(tile) -> int:
        if essop.rng.sharing == "element" or fanout == 0:
            return 1
        return max(_up(tile.cols, fanout), _up(tile.rows, fanout))

    load_cycles = []
    for j in range(nbatch):
        _, _, tile, nk = geometry(j)
        load_cycles.append(_up(nk * (tile.rows + tile.cols) * mem.operand_bits,
                               mem.read_bandwidth))
    wb_cycles = [_up(tl.rows * tl.cols * essop.accumulator_bits, mem.write_bandwidth)
                 for tl in tiles]
    memory = _Memory(config, load_cycles, wb_cycles)
    busy = dict.fromkeys(("read_port", "write_port", "shadow", "shift_scaler", "rng_bank",
                          "comparators", "and_array", "counters", "accumulators"), 0)
    stalls = _new_stalls()
    computed_at: list[int | None] = [None] * nbatch
    scaler: list[list[int]] = []          # shift-scaler pipeline: [batch, cycles left]
    scaled: set[int] = set()              # batches whose first vectors reached the comparators
    next_batch = 0
    active = None                         # [batch, k, bit, sub, nk, g, last_of_tile, tile]
    t = 0
    while True:
        if t > max_cycles:
            raise RuntimeError(f"reference did not finish in {max_cycles} cycles")
        # --- boundary t
        for j in memory.settle_completions(t):
            scaler.append([j, ls])
        for entry in [e for e in scaler if e[1] == 0]:
            scaled.add(entry[0])
            scaler.remove(entry)
        memory.settle_drain_and_shadow()
        if active is None and next_batch < nbatch:
            u, i, tile, nk = geometry(next_batch)
            operands = next_batch in scaled
            shadow_ok = i != 0 or u < 2 or memory.wb_done_at[u - 2] is not None
            if operands and shadow_ok:
                active = [next_batch, 0, 0, 0, nk, bcast(tile), i == per_tile - 1, u]
        memory.settle_loader(lambda j: computed_at[j] is not None)
        memory.settle_arbitration()
        if memory.all_written() and active is None and next_batch == nbatch:
            break
        # --- cycle t
        memory.tick(busy)
        for entry in scaler:
            entry[1] -= 1
        if active is not None:
            j, k, bit, sub, nk, g, last_of_tile, u = active
            busy["rng_bank"] += 1
            busy["comparators"] += 1
            if bit == 0 and sub == 0:
                busy["shift_scaler"] += 1
            if sub == g - 1:
                busy["and_array"] += 1
                busy["counters"] += 1
                if bit == bit_steps - 1:
                    busy["accumulators"] += 1
            else:
                stalls["rng"] += 1
            sub += 1
            if sub == g:
                sub, bit = 0, bit + 1
                if bit == bit_steps:
                    bit, k = 0, k + 1
            if k == nk:
                computed_at[j] = t + 1
                next_batch += 1
                active = None
                scaled.discard(j)
                if last_of_tile:
                    memory.drain.append([u, stages])
            else:
                active = [j, k, bit, sub, nk, g, last_of_tile, u]
        elif next_batch == 0:
            stalls["fill"] += 1
        elif next_batch == nbatch:
            stalls["drain"] += 1
        elif next_batch not in scaled:
            stalls["operand"] += 1
        else:
            stalls["writeback"] += 1
        t += 1
    bits_read = sum(nk * (tile.rows + tile.cols) * mem.operand_bits
                    for _, _, tile, nk in map(geometry, range(nbatch)))
    bits_written = sum(tl.rows * tl.cols * essop.accumulator_bits for tl in tiles)
    return ReferenceResult(t, busy, stalls, bits_read, bits_written)


def reference_fp16(config: HardwareConfig, m: int, n: int, K: int,
                   max_cycles: int = 2_000_000) -> ReferenceResult:
    """Per-cycle FP16-baseline timing (see module docstring and fp16_pipeline)."""
    mem, fp = config.memory, config.fp16
    split = fp16_geometry(config, m, n, K)
    mn = m * n
    products = mn * K
    M, ii, depth = fp.multipliers, fp.issue_interval, fp.pipeline_depth
    ngroups = _up(products, M)
    nbatch = split.count

    def batch_of(p: int) -> int:        # batch holding product p (k-major stream)
        return (p // mn) // split.steps

    needs = [batch_of(min((q + 1) * M, products) - 1) for q in range(ngroups)]
    frees: dict[int, list[int]] = {}   # group -> batches whose last product it holds
    for j in range(nbatch):
        last_product = min((j + 1) * split.steps * mn, products) - 1
        frees.setdefault(last_product // M, []).append(j)
    load_cycles = [_up(split.size(j) * (m + n) * mem.operand_bits, mem.read_bandwidth)
                   for j in range(nbatch)]
    wb_cycles = [_up(mn * fp16_accumulator_bits(config), mem.write_bandwidth)]
    memory = _Memory(config, load_cycles, wb_cycles)
    busy = dict.fromkeys(("read_port", "write_port", "shadow", "multipliers", "pipeline",
                          "accumulators"), 0)
    stalls = _new_stalls()
    freed_at: list[int | None] = [None] * nbatch
    issued: list[int] = []              # issue cycle of each issued group
    next_group = 0
    slot: list[int] | None = None       # [group, cycles left]
    t = 0
    while True:
        if t > max_cycles:
            raise RuntimeError(f"reference did not finish in {max_cycles} cycles")
        memory.settle_completions(t)
        memory.settle_drain_and_shadow()
        if (slot is None and next_group < ngroups
                and memory.loaded_at[needs[next_group]] is not None):
            slot = [next_group, ii]
            issued.append(t)
            next_group += 1
        memory.settle_loader(lambda j: freed_at[j] is not None)
        memory.settle_arbitration()
        if memory.all_written() and slot is None and next_group == ngroups:
            break
        memory.tick(busy)
        if any(c <= t < c + depth for c in issued[-(depth // ii + 2):]):
            busy["pipeline"] += 1
        if any(c + depth - 1 == t for c in issued[-(depth // ii + 2):]):
            busy["accumulators"] += 1
        if slot is not None:
            q = slot[0]
            busy["multipliers"] += 1
            if slot[1] == ii and q == ngroups - 1:   # last group's issue cycle
                memory.drain.append([0, depth - 1])
            slot[1] -= 1
            if slot[1] == 0:
                for j in frees.get(q, ()):
                    freed_at[j] = t + 1
                slot = None
        elif next_group == 0:
            stalls["fill"] += 1
        elif next_group == ngroups:
            stalls["drain"] += 1
        else:
            stalls["operand"] += 1
        t += 1
    bits_read = sum(split.size(j) * (m + n) * mem.operand_bits for j in range(nbatch))
    return ReferenceResult(t, busy, stalls, bits_read, mn * fp16_accumulator_bits(config))


def reference_timing(config: HardwareConfig, m: int, n: int, K: int,
                     max_cycles: int = 2_000_000) -> ReferenceResult:
    """Per-cycle timing of ``config.datapath`` for an [m, n] update summed over K."""
    if config.datapath == "essop":
        return reference_essop(config, m, n, K, max_cycles)
    return reference_fp16(config, m, n, K, max_cycles)
