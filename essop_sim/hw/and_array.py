"""The AND array: one AND gate per cell, ``bits_per_cycle`` lanes (timing and activity model).

A k-step (one outer product) streams BL bits, b = ``bits_per_cycle`` per cycle, in
nb = ceil(BL / b) bit steps (the last step uses BL - (nb - 1) * b lanes). Each bit step takes g
cycles (the RNG broadcast factor, see :mod:`essop_sim.hw.rng_bank`): g - 1 broadcast cycles, then
one cycle in which every active cell ANDs its x and delta bits. So one k-step occupies the array
for S = g * nb cycles, of which nb are AND cycles ('and_array' busy) and (g - 1) * nb are 'rng'
stalls.
"""

from __future__ import annotations

from .scheduler import Tile, ceil_div


class AndArray:
    """Timing and activity of the stochastic-multiplier AND gates."""

    def __init__(self, bitstream_length: int, bits_per_cycle: int):
        self.bitstream_length = bitstream_length
        self.bits_per_cycle = bits_per_cycle
        self.bit_steps = ceil_div(bitstream_length, bits_per_cycle)

    def step_cycles(self, broadcast_factor: int) -> int:
        """S: cycles the array spends on one k-step (g * ceil(BL / b))."""
        return broadcast_factor * self.bit_steps

    def count(self, tile: Tile, K: int, activity: dict[str, int]) -> None:
        """Add 'and_ops': one per active cell per stream bit (K * BL * rows * cols)."""
        activity["and_ops"] += K * self.bitstream_length * tile.rows * tile.cols
