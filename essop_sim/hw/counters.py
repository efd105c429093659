"""Counters, accumulators and the comparator-to-accumulator pipeline (timing and activity).

Every active cell counts its AND ones over a k-step (a counter increment per AND cycle at most:
'counters' busy in every AND cycle) and adds the shifted count into its accumulator once per
k-step ('accumulators' busy one cycle per k-step per tile). Between the comparators and the
counters sit ``pipeline_stages`` = P register stages; the k-step's final count is registered
and accumulated (overflow rule, alignment shift, add, clamp) in a cycle of its own, the
accumulate stage (:data:`ACCUMULATE_CYCLES`): a tile's accumulators are final at boundary
F = E + P + 1, E the end of the last AND cycle (issue 18: the RTL showed F = E + P to need
count, shift, add and clamp in the cycle the last bits are counted). The next tile may stream
during those P + 1 cycles (its bits reach the cells P cycles later).
"""

from __future__ import annotations

import simpy

from .scheduler import Tile
from .sim import Signals

#: The accumulate stage of ESSOP's counter/accumulator back end (docs/timing.md, ESSOP): the
#: k-step's final count, registered when its last bit step has passed the P stages and been
#: counted (boundary E + P), is accumulated in a cycle of its own (cycles). CBRAM reuses it.
ACCUMULATE_CYCLES = 1


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
