"""Run an Amaranth testbench against a design: the one simulator set-up the cross-checks share."""

from __future__ import annotations

import time
from collections.abc import Callable

from amaranth.hdl import Elaboratable
from amaranth.sim import Simulator


def run_testbench(design: Elaboratable, bench: Callable) -> float:
    """Simulate ``design`` with one clock domain 'sync' and the async testbench ``bench`` (which
    drives the inputs and ticks the clock) until the bench returns; the wall time (s). The
    clock's period is immaterial: every check counts cycles."""
    sim = Simulator(design)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    t0 = time.perf_counter()
    sim.run()
    return time.perf_counter() - t0
