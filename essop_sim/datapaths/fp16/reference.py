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
    """Per-cycle FP16-baseline timing, re-stated from docs/timing.md: a load writes its
    batch's k-steps in order (k-step i has arrived once (i + 1) vector pairs' bits have moved;
    bits moved = transfer cycles * read bandwidth), and every k-step that has arrived makes its
    m * n products issuable. When the multipliers are free at a boundary and some arrived product
    is not issued, a slot of II cycles issues the next min(M, such products) in stream order; a
    batch's half is free at the end of the slot that issued its last product."""
    mem, fp = config.memory, config.fp16
    split = fp16_geometry(config, m, n, K)
    mn = fp16_cells(config, m, n)   # products per k-step (W with a mask)
    products = mn * K
    M, ii, depth = fp.multipliers, fp.issue_interval, fp.pipeline_depth
    nbatch = split.count
    vector_bits = (m + n) * mem.operand_bits
    last_of = [min((j + 1) * split.steps * mn, products) for j in range(nbatch)]
    load_cycles = [up(split.size(j) * vector_bits, mem.read_bandwidth) for j in range(nbatch)]
    wb_cycles = [up(mn * fp16_accumulator_bits(config), mem.write_bandwidth)]
    memory = ReferenceMemory(config, load_cycles, wb_cycles)
    busy = dict.fromkeys(("read_port", "write_port", "shadow", "multipliers", "pipeline",
                          "accumulators"), 0)
    stalls = new_stalls()
    freed_at: list[int | None] = [None] * nbatch
    arrived = [0] * nbatch              # k-steps of each batch written into the buffer
    issued_at: list[int] = []           # issue cycle of each slot
    issued = 0                          # products issued (or being issued)
    slot: list[int] | None = None       # [cycles left, products issued after this slot]
    t = 0
    while True:
        if t > max_cycles:
            raise RuntimeError(f"reference did not finish in {max_cycles} cycles")
        job = memory.read.job
        if job is not None and job[0] == "load":
            j = job[1]
            moved = (load_cycles[j] - memory.read.left) * mem.read_bandwidth
            arrived[j] = split.size(j) if memory.read.left == 0 else min(
                split.size(j), moved // vector_bits)
        memory.settle_completions(t)
        memory.settle_drain_and_shadow()
        available = sum(arrived) * mn - issued
        if slot is None and available > 0:
            issued += min(M, available)
            slot = [ii, issued]
            issued_at.append(t)
        memory.settle_loader(lambda j: freed_at[j] is not None)
        memory.settle_arbitration()
        if memory.all_written() and slot is None and issued == products:
            break
        memory.tick(busy)
        if any(c <= t < c + depth for c in issued_at[-(depth // ii + 2):]):
            busy["pipeline"] += 1
        if any(c + depth - 1 == t for c in issued_at[-(depth // ii + 2):]):
            busy["accumulators"] += 1
        if slot is not None:
            busy["multipliers"] += 1
            if slot[0] == ii and slot[1] == products:   # last slot's issue cycle
                memory.drain.append([0, depth - 1])
            slot[0] -= 1
            if slot[0] == 0:
                for j in range(nbatch):
                    if freed_at[j] is None and last_of[j] <= slot[1]:
                        freed_at[j] = t + 1
                slot = None
        elif issued == 0:
            stalls["fill"] += 1
        elif issued == products:
            stalls["drain"] += 1
        else:
            stalls["operand"] += 1
        t += 1
    bits_read = sum(split.size(j) * vector_bits for j in range(nbatch))
    return ReferenceResult(t, busy, stalls, bits_read, mn * fp16_accumulator_bits(config))
