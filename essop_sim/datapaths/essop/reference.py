"""Per-cycle reference model of ESSOP's timing, to validate its event model on small cases.

See :mod:`essop_sim.hw.reference` for the cycle-boundary order and the memory side it shares
with every reference; the datapath's own rules are re-stated here from docs/timing.md.
"""

from __future__ import annotations

from ...config import HardwareConfig
from ...hw.reference import ReferenceMemory, ReferenceResult, new_stalls, up
from .geometry import essop_geometry


def reference_essop(config: HardwareConfig, m: int, n: int, K: int,
                    max_cycles: int = 2_000_000) -> ReferenceResult:
    """Per-cycle ESSOP timing (see module docstring)."""
    essop, mem = config.essop, config.memory
    tiles, split = essop_geometry(config, m, n, K)
    per_tile = split.count
    nbatch = len(tiles) * per_tile
    bl, b = essop.bitstream_length, essop.bits_per_cycle
    bit_steps = up(bl, b)
    ls, stages = essop.shift_scaler_latency, essop.pipeline_stages
    fanout = essop.rng.fanout

    def geometry(j: int):
        u, i = divmod(j, per_tile)
        return u, i, tiles[u], split.size(i)

    def bcast(tile) -> int:
        if essop.rng.sharing == "element" or fanout == 0:
            return 1
        return max(up(tile.cols, fanout), up(tile.rows, fanout))

    load_cycles = []
    for j in range(nbatch):
        _, _, tile, nk = geometry(j)
        load_cycles.append(up(nk * (tile.rows + tile.cols) * mem.operand_bits,
                               mem.read_bandwidth))
    wb_cycles = [up(tl.rows * tl.cols * essop.accumulator_bits, mem.write_bandwidth)
                 for tl in tiles]
    memory = ReferenceMemory(config, load_cycles, wb_cycles)
    busy = dict.fromkeys(("read_port", "write_port", "shadow", "shift_scaler", "rng_bank",
                          "comparators", "and_array", "counters", "accumulators"), 0)
    stalls = new_stalls()
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
            # after the last AND cycle: the last tile, final, waiting for the shadow register
            # (tile u-1's write-back) is a write-back stall; the rest is the drain
            stalls["writeback" if memory.final_waiting else "drain"] += 1
        elif next_batch not in scaled:
            stalls["operand"] += 1
        else:
            stalls["writeback"] += 1
        t += 1
    bits_read = sum(nk * (tile.rows + tile.cols) * mem.operand_bits
                    for _, _, tile, nk in map(geometry, range(nbatch)))
    bits_written = sum(tl.rows * tl.cols * essop.accumulator_bits for tl in tiles)
    return ReferenceResult(t, busy, stalls, bits_read, bits_written)
