"""Write-back unit: a shadow register and write-back bursts (event model).

When tile u's accumulators are final (boundary F_u), they move into the shadow register as soon
as it is empty, i.e. at M_u = max(F_u, W_{u-1}) where W_{u-1} is the boundary at which tile u-1's
write-back completed; the move itself takes no cycle. The shadow register then drains to memory
as one burst of ``rows * cols * accumulator_bits`` bits over the write port, taking
``ceil(bits / write_bandwidth)`` cycles once the port is granted. Busy blocks: 'shadow' (cycles
the shadow register holds a tile: M_u up to the burst's end) and 'write_port' (burst cycles).
"""

from __future__ import annotations

from collections.abc import Callable

import simpy

from .operand_buffer import WRITEBACK, MemoryPorts
from .sim import Signals, Stats


class WritebackUnit:
    """Shadow register + write-back bursts for ``tiles`` tiles, in tile order.

    Args:
        env: the simulation environment.
        ports: memory ports (write-backs use the write port).
        tiles: number of tiles.
        final: tile u -> event fired when its accumulators are final (from the pipeline drain).
        tile_bits: tile u -> bits written back for it.
        stats: where 'shadow' and 'write_port' busy cycles, bits_written and events go.
    """

    def __init__(self, env: simpy.Environment, ports: MemoryPorts, tiles: int,
                 final: Signals, tile_bits: Callable[[int], int], stats: Stats):
        self.env = env
        self.ports = ports
        self.tiles = tiles
        self.final = final
        self.tile_bits = tile_bits
        self.stats = stats
        self.done = Signals(env)   # tile u -> fired at the boundary its write-back completed
        self.completed = 0         # tiles whose write-back has completed
        self.shadow_wait = 0       # cycles the last tile waited, final, for the shadow register

    def run(self):
        """Move each final tile into the shadow register, then burst it to memory."""
        env, port, stats = self.env, self.ports.write, self.stats
        for u in range(self.tiles):
            final = yield self.final.get(u)  # accumulators final; the shadow is empty here
            moved = env.now
            self.shadow_wait = moved - final
            bits = self.tile_bits(u)
            cycles = self.ports.write_cycles(bits)
            yield port.request(WRITEBACK)
            yield env.timeout(cycles)
            port.release()
            stats.busy["write_port"] += cycles
            stats.busy["shadow"] += env.now - moved
            stats.bits_written += bits
            stats.events += 1
            self.completed = u + 1
            self.done.fire(u, env.now)
