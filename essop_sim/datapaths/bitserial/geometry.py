"""Bit-serial tiles and batches: the shared tiling (:mod:`essop_sim.hw.scheduler`) applied to the
R x C array of serial units and the operand buffer's V k-steps per half (as ESSOP)."""

from __future__ import annotations

from ...hw.scheduler import BatchSplit, Tile, ceil_div, check_shape, tile_grid


def bitserial_geometry(config, m: int, n: int, K: int) -> tuple[list[Tile], BatchSplit]:
    """Tiles (row-major) and the per-tile batch split."""
    check_shape(m, n, K)
    arr = config.bitserial.array
    return tile_grid(m, n, arr.rows, arr.cols), BatchSplit(K, config.memory.operand_buffer_vectors)


def bit_steps(config, precision: int) -> int:
    """Cycles one outer product occupies the units: ceil(p / b)."""
    return ceil_div(int(precision), config.bitserial.bits_per_cycle)
