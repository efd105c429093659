"""Per-cycle reference model of the FP16 baseline's timing, to validate its event model on
small cases.

See :mod:`essop_sim.hw.reference` for the cycle-boundary order and the memory side it shares
with every reference; the datapath's own rules are re-stated here from docs/timing.md.
"""

from __future__ import annotations

from ...config import HardwareConfig
from ...hw.reference import ReferenceMemory, ReferenceResult, new_stalls, up
from .geometry import fp16_accumulator_bits, fp16_cells, fp16_geometry


def reference_fp16(config: HardwareConfig, m: int, n: int, K: int,
                   max_cycles: int = 2_000_000) -> ReferenceResult:
    """Per-cycle FP16-baseline timing (see module docstring and fp16_pipeline)."""
    mem, fp = config.memory, config.fp16
    split = fp16_geometry(config, m, n, K)
    mn = fp16_cells(config, m, n)   # products per k-step (W with a mask)
    products = mn * K
    M, ii, depth = fp.multipliers, fp.issue_interval, fp.pipeline_depth
    ngroups = up(products, M)
    nbatch = split.count

    def batch_of(p: int) -> int:        # batch holding product p (k-major stream)
        return (p // mn) // split.steps

    needs = [batch_of(min((q + 1) * M, products) - 1) for q in range(ngroups)]
    frees: dict[int, list[int]] = {}   # group -> batches whose last product it holds
    for j in range(nbatch):
        last_product = min((j + 1) * split.steps * mn, products) - 1
        frees.setdefault(last_product // M, []).append(j)
    load_cycles = [up(split.size(j) * (m + n) * mem.operand_bits, mem.read_bandwidth)
                   for j in range(nbatch)]
    wb_cycles = [up(mn * fp16_accumulator_bits(config), mem.write_bandwidth)]
    memory = ReferenceMemory(config, load_cycles, wb_cycles)
    busy = dict.fromkeys(("read_port", "write_port", "shadow", "multipliers", "pipeline",
                          "accumulators"), 0)
    stalls = new_stalls()
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
