"""The tile's control: sequences each k-step (outer product) as ceil(BL / b) bit steps of g
cycles (g - 1 RNG broadcast cycles, then one AND cycle), docs/timing.md.

State: the broadcast sub-step ``sub`` (0 .. g - 1), the bit step ``bit`` (0 .. nb - 1) and
``first`` (the next k-step is the tile's first). The array streams whenever the front end
presents a vector pair; there is no other state, so k-steps and tiles follow each other without
a gap. Outputs per cycle: ``stream`` (a streaming cycle: banks and comparators busy), ``fire``
(the AND cycle of a bit step: the banks advance, the comparators' bits enter the pipeline),
``last_bit`` (fire of the k-step's last bit step; releases the vector pair: ``pop``),
``lane_en`` (lanes used: b, or the tail BL - (nb - 1) b on the last bit step), ``partial`` (the
banks advance by the tail only), ``reload`` (banks back to their seed states: after every k-step
under sequence 'restart', after the tile's last k-step under both sequences).
"""

from __future__ import annotations

from amaranth.hdl import Elaboratable, Module, Mux, Signal

from .params import TileParams


class Control(Elaboratable):
    """Ports in: ``valid`` (a vector pair is at the comparators), ``final`` (it is the tile's last
    k-step). Ports out: see module docstring (plus ``sub`` and ``first``)."""

    def __init__(self, p: TileParams):
        self.p = p
        self.valid = Signal()
        self.final = Signal()
        self.stream = Signal()
        self.fire = Signal()
        self.last_bit = Signal()
        self.pop = Signal()
        self.lane_en = Signal(p.lanes)
        self.partial = Signal()
        self.reload = Signal()
        self.sub = Signal(range(p.broadcast))
        self.bit = Signal(range(p.bit_steps))
        self.first = Signal(init=1)

    def elaborate(self, platform):
        m = Module()
        p = self.p
        g, nb = p.broadcast, p.bit_steps
        on_last_step = self.bit == nb - 1
        m.d.comb += [
            self.stream.eq(self.valid),
            self.fire.eq(self.valid & (self.sub == g - 1)),
            self.last_bit.eq(self.fire & on_last_step),
            self.pop.eq(self.last_bit),
            self.partial.eq(on_last_step),
            self.lane_en.eq(Mux(on_last_step, (1 << p.tail) - 1, (1 << p.lanes) - 1)),
            self.reload.eq(self.last_bit & (self.final if p.sequence == "continue" else 1)),
        ]
        with m.If(self.stream):
            with m.If(self.sub == g - 1):
                m.d.sync += self.sub.eq(0)
                m.d.sync += self.bit.eq(Mux(on_last_step, 0, self.bit + 1))
            with m.Else():
                m.d.sync += self.sub.eq(self.sub + 1)
        with m.If(self.last_bit):
            m.d.sync += self.first.eq(self.final)
        return m
