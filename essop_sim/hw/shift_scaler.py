"""Shift scaler: power-of-two scaling of operand vectors (timing and activity model).

The shift scaler takes one k-step's operand vectors (the tile's rows delta elements and cols x
elements) from the operand buffer and delivers their scaled magnitudes to the comparators
``shift_scaler_latency`` = Ls cycles later. It is pipelined: it accepts one vector pair per cycle
('shift_scaler' busy: one cycle per k-step per tile). A k-step can reach the comparators Ls
cycles after its vector pair arrived in the operand buffer; k-steps that arrive early are
scaled while earlier ones stream, so Ls is exposed only when the array waits for operands.
"""

from __future__ import annotations

from .scheduler import Tile


class ShiftScaler:
    """Latency and activity of the shift scaler."""

    def __init__(self, latency: int):
        self.latency = latency

    def count(self, tile: Tile, K: int, activity: dict[str, int]) -> None:
        """Add 'shift_ops': one element shift per operand element per k-step per tile."""
        activity["shift_ops"] += K * (tile.rows + tile.cols)
