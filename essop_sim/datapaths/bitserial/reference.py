"""Per-cycle reference of the bit-serial datapath's timing, to validate its event model.

Built on the shared memory side (:mod:`essop_sim.hw.reference`: cycle-boundary order, ports,
loader, shadow register); the datapath's rules are re-stated from docs/bitserial.md. One loop
iteration is one clock cycle; nothing here imports the event model.
"""

from __future__ import annotations

from ...hw.reference import ReferenceMemory, ReferenceResult, new_stalls, up
from .geometry import bitserial_geometry


def reference_bitserial(config, m: int, n: int, K: int, precision: int,
                        max_cycles: int = 2_000_000) -> ReferenceResult:
    """Per-cycle bit-serial timing at serial precision ``precision``."""
    bs, mem = config.bitserial, config.memory
    tiles, split = bitserial_geometry(config, m, n, K)
    per_tile = split.count
    nbatch = len(tiles) * per_tile
    steps = up(precision, bs.bits_per_cycle)     # cycles per outer product
    latency, stages = bs.quantiser_latency, bs.pipeline_stages

    def geometry(j: int):
        u, i = divmod(j, per_tile)
        return u, i, tiles[u], split.size(i)

    load_cycles = [up(nk * (tile.rows + tile.cols) * mem.operand_bits, mem.read_bandwidth)
                   for _, _, tile, nk in map(geometry, range(nbatch))]
    wb_cycles = [up(tl.rows * tl.cols * bs.accumulator_bits, mem.write_bandwidth)
                 for tl in tiles]
    memory = ReferenceMemory(config, load_cycles, wb_cycles)
    busy = dict.fromkeys(("read_port", "write_port", "shadow", "quantiser", "serial_units",
                          "accumulators"), 0)
    stalls = new_stalls(("fill", "operand", "writeback", "drain"))
    computed = [False] * nbatch
    quantising: list[list[int]] = []      # [batch, cycles left] in the quantiser
    ready: set[int] = set()               # batches whose first vectors reached the units
    next_batch = 0
    active = None                         # [batch, k, step, nk, last_of_tile, tile]
    t = 0
    while True:
        if t > max_cycles:
            raise RuntimeError(f"reference did not finish in {max_cycles} cycles")
        # --- boundary t
        for j in memory.settle_completions(t):
            quantising.append([j, latency])
        for entry in [e for e in quantising if e[1] == 0]:
            ready.add(entry[0])
            quantising.remove(entry)
        memory.settle_drain_and_shadow()
        if active is None and next_batch < nbatch:
            u, i, _tile, nk = geometry(next_batch)
            shadow_ok = i != 0 or u < 2 or memory.wb_done_at[u - 2] is not None
            if next_batch in ready and shadow_ok:
                active = [next_batch, 0, 0, nk, i == per_tile - 1, u]
        memory.settle_loader(lambda j: computed[j])
        memory.settle_arbitration()
        if memory.all_written() and active is None and next_batch == nbatch:
            break
        # --- cycle t
        memory.tick(busy)
        for entry in quantising:
            entry[1] -= 1
        if active is not None:
            j, k, step, nk, last_of_tile, u = active
            busy["serial_units"] += 1
            if step == 0:
                busy["quantiser"] += 1       # the vector pair of k-step k enters the units
            if step == steps - 1:
                busy["accumulators"] += 1    # its product is added
            step += 1
            if step == steps:
                step, k = 0, k + 1
            if k == nk:
                computed[j] = True
                next_batch += 1
                active = None
                ready.discard(j)
                if last_of_tile:
                    memory.drain.append([u, stages])
            else:
                active = [j, k, step, nk, last_of_tile, u]
        elif next_batch == 0:
            stalls["fill"] += 1
        elif next_batch == nbatch:
            # after the last compute cycle: the last tile, final, waiting for the shadow
            # register (tile u-1's write-back) is a write-back stall; the rest is the drain
            stalls["writeback" if memory.final_waiting else "drain"] += 1
        elif next_batch not in ready:
            stalls["operand"] += 1
        else:
            stalls["writeback"] += 1
        t += 1
    bits_read = sum(nk * (tile.rows + tile.cols) * mem.operand_bits
                    for _, _, tile, nk in map(geometry, range(nbatch)))
    bits_written = sum(tl.rows * tl.cols * bs.accumulator_bits for tl in tiles)
    return ReferenceResult(t, busy, stalls, bits_read, bits_written)
