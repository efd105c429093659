"""ESSOP's tiles and batches: the shared tiling (:mod:`essop_sim.hw.scheduler`) applied to the
R x C array and the operand buffer's V k-steps per half."""

from __future__ import annotations

from ...config import HardwareConfig
from ...hw.scheduler import BatchSplit, Tile, check_shape, tile_grid


def essop_geometry(config: HardwareConfig, m: int, n: int, K: int) -> tuple[list[Tile],
                                                                               BatchSplit]:
    """ESSOP tiles (row-major) and the per-tile batch split."""
    check_shape(m, n, K)
    arr = config.essop.array
    return tile_grid(m, n, arr.rows, arr.cols), BatchSplit(K, config.memory.operand_buffer_vectors)
