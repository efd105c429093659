"""CBRAM tiles, batches and bit periods: the shared tiling (:mod:`essop_sim.hw.scheduler`)
applied to the R x C array, and the cycle cost of one bit period (docs/cbram.md, "Timing")."""

from __future__ import annotations

import math

from ...hw.scheduler import BatchSplit, Tile, ceil_div, check_shape, tile_grid


def cbram_geometry(config, m: int, n: int, K: int) -> tuple[list[Tile], BatchSplit]:
    """Tiles (row-major) and the per-tile batch split (as ESSOP)."""
    check_shape(m, n, K)
    arr = config.cbram.array
    return tile_grid(m, n, arr.rows, arr.cols), BatchSplit(K, config.memory.operand_buffer_vectors)


def ns_cycles(t_ns: float, clock_hz: float) -> int:
    """ceil(t * f) clock cycles for t ns at f Hz (t * f rounded to 9 decimals first, so that
    e.g. 63 ns at 1 GHz is 63 cycles, not 64 by a rounding error)."""
    return math.ceil(round(t_ns * clock_hz / 1e9, 9))


def phase_cycles(config) -> tuple[int, int, int]:
    """(SET, read, RESET) cycles of one bit period: the SET slot fits the longest pulse
    S_max * step (at least 1 cycle), then the read, then the RESET slot."""
    dev, f = config.cbram.device, config.memory.clock_hz
    return (max(1, ns_cycles(dev.pulse_max_steps * dev.pulse_step_ns, f)),
            ns_cycles(dev.read_ns, f), ns_cycles(dev.reset_ns, f))


def bit_period(config) -> int:
    """Cycles of one bit period: SET + read + RESET."""
    return sum(phase_cycles(config))


def bit_periods(config) -> int:
    """Bit periods of one outer product: ceil(BL / d)."""
    c = config.cbram
    return ceil_div(c.bitstream_length, c.devices_per_converter)
