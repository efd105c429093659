"""Per-cycle reference of the CBRAM datapath's timing, to validate its event model.

Built on the shared memory side (:mod:`essop_sim.hw.reference`: cycle-boundary order, ports,
loader, shadow register); the datapath's rules are re-stated from docs/cbram.md ("Timing"): one
loop iteration is one clock cycle, and within a k-step every bit period runs its SET cycles,
read cycles and RESET cycles in turn, the AND/count in the period's last cycle. Nothing here
imports the event model.
"""

from __future__ import annotations

import math

from ...hw.reference import ReferenceMemory, ReferenceResult, new_stalls, up
from .geometry import cbram_geometry


def _cycles(t_ns: float, clock_hz: float) -> int:
    return math.ceil(round(t_ns * clock_hz / 1e9, 9))


def reference_cbram(config, m: int, n: int, K: int,
                    max_cycles: int = 2_000_000) -> ReferenceResult:
    """Per-cycle CBRAM timing."""
    c, mem = config.cbram, config.memory
    dev = c.device
    tiles, split = cbram_geometry(config, m, n, K)
    per_tile = split.count
    nbatch = len(tiles) * per_tile
    c_set = max(1, _cycles(dev.pulse_max_steps * dev.pulse_step_ns, mem.clock_hz))
    c_read = _cycles(dev.read_ns, mem.clock_hz)
    c_reset = _cycles(dev.reset_ns, mem.clock_hz)
    period = c_set + c_read + c_reset
    periods = up(c.bitstream_length, c.devices_per_converter)
    latency, stages = c.shift_scaler_latency, c.pipeline_stages

    def geometry(j: int):
        u, i = divmod(j, per_tile)
        return u, i, tiles[u], split.size(i)

    load_cycles = [up(nk * (tile.rows + tile.cols) * mem.operand_bits, mem.read_bandwidth)
                   for _, _, tile, nk in map(geometry, range(nbatch))]
    wb_cycles = [up(tl.rows * tl.cols * c.accumulator_bits, mem.write_bandwidth)
                 for tl in tiles]
    memory = ReferenceMemory(config, load_cycles, wb_cycles)
    busy = dict.fromkeys(("read_port", "write_port", "shadow", "shift_scaler",
                          "pulse_generators", "devices", "sense_amps", "and_array", "counters",
                          "accumulators"), 0)
    stalls = new_stalls(("fill", "operand", "writeback", "drain"))
    computed = [False] * nbatch
    scaling: list[list[int]] = []         # [batch, cycles left] in the shift scaler
    ready: set[int] = set()
    next_batch = 0
    active = None                         # [batch, k, bit period, phase, nk, last_of_tile, u]
    t = 0
    while True:
        if t > max_cycles:
            raise RuntimeError(f"reference did not finish in {max_cycles} cycles")
        # --- boundary t
        for j in memory.settle_completions(t):
            scaling.append([j, latency])
        for entry in [e for e in scaling if e[1] == 0]:
            ready.add(entry[0])
            scaling.remove(entry)
        memory.settle_drain_and_shadow()
        if active is None and next_batch < nbatch:
            u, i, _tile, nk = geometry(next_batch)
            shadow_ok = i != 0 or u < 2 or memory.wb_done_at[u - 2] is not None
            if next_batch in ready and shadow_ok:
                active = [next_batch, 0, 0, 0, nk, i == per_tile - 1, u]
        memory.settle_loader(lambda j: computed[j])
        memory.settle_arbitration()
        if memory.all_written() and active is None and next_batch == nbatch:
            break
        # --- cycle t
        memory.tick(busy)
        for entry in scaling:
            entry[1] -= 1
        if active is not None:
            j, k, bp, phase, nk, last_of_tile, u = active
            busy["devices"] += 1
            if bp == 0 and phase == 0:
                busy["shift_scaler"] += 1        # the k-step's pulse widths enter
            if phase < c_set:
                busy["pulse_generators"] += 1
            elif phase < c_set + c_read:
                busy["sense_amps"] += 1
            if phase == period - 1:
                busy["and_array"] += 1           # the period's bits are ANDed and counted
                busy["counters"] += 1
                if bp == periods - 1:
                    busy["accumulators"] += 1
            phase += 1
            if phase == period:
                phase, bp = 0, bp + 1
                if bp == periods:
                    bp, k = 0, k + 1
            if k == nk:
                computed[j] = True
                next_batch += 1
                active = None
                ready.discard(j)
                if last_of_tile:
                    memory.drain.append([u, stages])
            else:
                active = [j, k, bp, phase, nk, last_of_tile, u]
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
    bits_written = sum(tl.rows * tl.cols * c.accumulator_bits for tl in tiles)
    return ReferenceResult(t, busy, stalls, bits_read, bits_written)
