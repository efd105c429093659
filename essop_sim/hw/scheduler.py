"""Shared tile and batch geometry: how an [m, n] update summed over K maps onto hardware.

This module holds only geometry (which tile covers which rows and columns, how the K outer
products split into operand-buffer batches). It holds no timing: both a datapath's event model
and its per-cycle reference model import it (through the datapath's own ``geometry`` module,
which applies it to that datapath's configuration), and nothing else is shared between them.
Below, how the two built-in datapaths use it:

ESSOP: the [m, n] update is cut into ``ceil(m / R) x ceil(n / C)`` tiles of the R x C array,
visited row-major (tile ``t = tile_row * tile_cols + tile_col``); edge tiles are partial (only
``rows x cols`` of the array cells are active). Each tile processes all K outer products; the K
k-steps are split into batches of at most V = ``memory.operand_buffer_vectors`` k-steps (one
operand-buffer half each). Batches are numbered globally: tile 0's batches first, then tile 1's.

FP16: the multipliers see the whole [m, n] update as one tile (a flat product stream); its K
k-steps are split into batches of V k-steps (``fp16_batch_steps``).
"""

from __future__ import annotations

from dataclasses import dataclass


def ceil_div(a: int, b: int) -> int:
    """ceil(a / b) for non-negative integers."""
    return -(-a // b)


def check_shape(m: int, n: int, K: int) -> None:
    """Raise ValueError unless m, n, K are positive integers."""
    for name, v in (("m", m), ("n", n), ("K", K)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive integer; got {v!r}")


@dataclass(frozen=True)
class Tile:
    """One placement of the array over the update.

    Attributes:
        index: row-major tile number t.
        row0, col0: first update row (delta index) and column (x index) covered.
        rows: active array rows r_a (delta elements), 1..R.
        cols: active array columns c_b (x elements), 1..C.
    """

    index: int
    row0: int
    col0: int
    rows: int
    cols: int


def tile_grid(m: int, n: int, rows: int, cols: int) -> list[Tile]:
    """Row-major tiles of an [m, n] update on an array of ``rows x cols`` cells."""
    tiles = []
    for tr in range(ceil_div(m, rows)):
        r0 = tr * rows
        for tc in range(ceil_div(n, cols)):
            c0 = tc * cols
            tiles.append(Tile(len(tiles), r0, c0, min(rows, m - r0), min(cols, n - c0)))
    return tiles


@dataclass(frozen=True)
class BatchSplit:
    """K k-steps of one tile split into batches of at most ``steps`` k-steps.

    Attributes:
        K: k-steps (outer products) per tile.
        steps: batch capacity (k-steps per operand-buffer half).
    """

    K: int
    steps: int

    @property
    def count(self) -> int:
        """Batches per tile, ceil(K / steps)."""
        return ceil_div(self.K, self.steps)

    def size(self, i: int) -> int:
        """k-steps of batch i of the tile (the last one may be partial)."""
        return min(self.steps, self.K - i * self.steps)

    @property
    def last_full(self) -> int:
        """Index of the last batch holding ``steps`` k-steps (-1 if none)."""
        return self.count - 1 if self.K % self.steps == 0 else self.count - 2
