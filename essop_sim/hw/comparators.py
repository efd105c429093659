"""Comparators: one per active operand element of a tile (timing and activity model).

Each of the tile's ``rows + cols`` active comparators compares its scaled operand magnitude with
one random number per stream bit. The comparators are busy in every streaming cycle of the
array, including the broadcast cycles of a fan-out-limited RNG bank (in each, a subset of them
receives its number).
"""

from __future__ import annotations

from .scheduler import Tile


class Comparators:
    """Activity of the comparator row and column of one ESSOP array."""

    def __init__(self, bitstream_length: int):
        self.bitstream_length = bitstream_length

    def count(self, tile: Tile, K: int, activity: dict[str, int]) -> None:
        """Add 'comparisons': one per active comparator per stream bit (K * BL * (rows + cols))."""
        activity["comparisons"] += K * self.bitstream_length * (tile.rows + tile.cols)
