"""RNG banks: the random-number sources feeding the comparators (timing and activity model).

Banks: sharing 'vector' (ESSOP) has one x bank (its number goes to every active column
comparator) and one delta bank (every active row comparator): 2 banks. Sharing 'element' has one
bank per active operand element: ``rows + cols`` banks for a tile (idle banks of an edge tile are
not counted; a full tile has R + C).

Broadcast limit (``rng.fanout`` = f > 0): one bank output drives at most f comparators per
cycle, so a bank shared by s active comparators needs ceil(s / f) cycles per stream-bit step.
With 'vector' sharing the x bank has s = cols and the delta bank s = rows, and both broadcast in
parallel, so every stream-bit step takes g = max(ceil(cols / f), ceil(rows / f)) cycles. With
'element' sharing (s = 1) or f = 0 (unlimited), g = 1. The g - 1 extra cycles of every step are
the 'rng' stall. (The sharers are the tile's *active* comparators: the idle comparators of an
edge tile are gated and take no broadcast slot; for full tiles this is R and C.)
"""

from __future__ import annotations

from ..config import HardwareConfig
from .scheduler import Tile, ceil_div


class RngBanks:
    """Timing and activity of the RNG banks of one ESSOP array."""

    def __init__(self, config: HardwareConfig):
        essop = config.essop
        self.sharing = essop.rng.sharing
        self.fanout = essop.rng.fanout
        self.bitstream_length = essop.bitstream_length
        steps = essop.rng.steps_per_number
        self.steps_per_number = essop.comparator_bits if steps is None else steps

    def banks(self, tile: Tile) -> int:
        """Active banks for a tile: 2 ('vector') or rows + cols ('element')."""
        return 2 if self.sharing == "vector" else tile.rows + tile.cols

    def broadcast_factor(self, tile: Tile) -> int:
        """g: cycles per stream-bit step spent broadcasting a bank's numbers (>= 1)."""
        if self.sharing != "vector" or self.fanout == 0:
            return 1
        return max(ceil_div(tile.cols, self.fanout), ceil_div(tile.rows, self.fanout))

    def count(self, tile: Tile, K: int, activity: dict[str, int]) -> None:
        """Add a tile's K outer products: 'random_numbers' (one per bank per stream bit) and
        'lfsr_steps' (random numbers x steps_per_number register shifts)."""
        numbers = self.banks(tile) * K * self.bitstream_length
        activity["random_numbers"] += numbers
        activity["lfsr_steps"] += numbers * self.steps_per_number
