"""Per-cycle reference of the CBRAM datapath's timing, to validate its event model.

Built on the shared memory side (:mod:`essop_sim.hw.reference`: cycle-boundary order, ports,
loader, shadow register); the datapath's rules are re-stated from docs/cbram.md ("Timing"): one
loop iteration is one clock cycle, and within a k-step every bit period runs its SET cycles,
read cycles and RESET cycles in turn, the AND/count in the period's last cycle. Nothing here
imports the event model.
"""

from __future__ import annotations

import math

from ...hw.reference import ReferenceResult, reference_tiled, up
from .geometry import cbram_geometry


def _cycles(t_ns: float, clock_hz: float) -> int:
    return math.ceil(round(t_ns * clock_hz / 1e9, 9))


def reference_cbram(config, m: int, n: int, K: int,
                    max_cycles: int = 2_000_000) -> ReferenceResult:
    """Per-cycle CBRAM timing: a k-step is ceil(BL / d) bit periods of SET, read and RESET
    cycles (each phase's cycles re-derived here from the device's pulse widths and the
    clock)."""
    c, mem = config.cbram, config.memory
    dev = c.device
    tiles, split = cbram_geometry(config, m, n, K)
    c_set = max(1, _cycles(dev.pulse_max_steps * dev.pulse_step_ns, mem.clock_hz))
    c_read = _cycles(dev.read_ns, mem.clock_hz)
    c_reset = _cycles(dev.reset_ns, mem.clock_hz)
    period = c_set + c_read + c_reset
    periods = up(c.bitstream_length, c.devices_per_converter)

    def on_cycle(u: int, cycle: int, busy: dict, stalls: dict) -> None:
        bp, phase = divmod(cycle, period)
        busy["devices"] += 1
        if cycle == 0:
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

    return reference_tiled(
        config, tiles, split, front_latency=c.shift_scaler_latency,
        pipeline_stages=c.pipeline_stages,
        accumulate_cycles=1,   # ESSOP's accumulate stage after the P stages
        accumulator_bits=c.accumulator_bits,
        blocks=("read_port", "write_port", "shadow", "shift_scaler", "pulse_generators",
                "devices", "sense_amps", "and_array", "counters", "accumulators"),
        stall_causes=("fill", "operand", "writeback", "drain"),
        step_cycles=lambda u: periods * period, on_cycle=on_cycle, max_cycles=max_cycles)
