"""Counters, accumulators and the comparator-to-accumulator pipeline (timing and activity).

Every active cell counts its AND ones over a k-step (a counter increment per AND cycle at most:
'counters' busy in every AND cycle) and adds the shifted count into its accumulator once per
k-step ('accumulators' busy one cycle per k-step per tile). Between the comparators and the
accumulators sit ``pipeline_stages`` = P register stages: a tile's accumulators are final P
cycles after its last AND cycle (boundary F = E + P, E the end of the last AND cycle). The next
tile may stream during those P cycles (its bits reach the cells P cycles later).
"""

from __future__ import annotations

import simpy

from .scheduler import Tile
from .sim import Signals


class Counters:
    """Activity of the per-cell counters and accumulators."""

    def __init__(self, pipeline_stages: int, bits_per_cycle: int):
        self.pipeline_stages = pipeline_stages
        self.bits_per_cycle = bits_per_cycle

    def count(self, tile: Tile, K: int, stream_cycles: int, activity: dict[str, int]) -> None:
        """Add 'accumulator_adds' (rows * cols * K) and 'register_bit_cycles' (pipeline register
        bits clocked: P * (rows + cols) * bits_per_cycle per streaming cycle, the comparator
        output bits carried through the P stages)."""
        activity["accumulator_adds"] += tile.rows * tile.cols * K
        activity["register_bit_cycles"] += (self.pipeline_stages * (tile.rows + tile.cols)
                                            * self.bits_per_cycle * stream_cycles)


class PipelineDrain:
    """Signals when a tile's results are final, a fixed delay after its last compute event."""

    def __init__(self, env: simpy.Environment):
        self.env = env
        self.final = Signals(env)   # tile u -> fired at its final boundary (value: cycle)

    def finish(self, u: int, delay: int) -> None:
        """Tile u's results become final ``delay`` cycles from now."""
        if delay == 0:
            self.final.fire(u, self.env.now)
        else:
            self.env.timeout(delay).callbacks.append(
                lambda _ev, u=u: self.final.fire(u, self.env.now))
