"""The tile's front end (the timing model's shift scaler): the operand input port and the
Ls-cycle path from an arrived vector pair to the comparators.

Per k-step the tile receives one vector pair (see :mod:`.essop_tile` for what is computed in
software): quantised magnitudes q (w + 1 bits) and sign bits of the x and delta elements, the
two vectors' scale exponents e_x, e_d (signed, :data:`~.params.EXPONENT_BITS` bits) and a
``last`` flag (the tile's last k-step). A level input ``exponent`` holds the update's common
exponent E. On entry the block computes the accumulator alignment shift
s = clamp(E - e_x - e_d, 0, F + cb) (F + cb: every larger shift gives v = 0; a negative s only
occurs for an inactive outer product, whose counts are 0), then passes the pair through
Ls = ``shift_scaler_latency`` register stages. The pipeline is elastic (valid per stage, a
stage takes a new pair when it is empty or its pair moves on in the same cycle), so it streams
one pair per cycle and never adds a bubble. Its last stage holds the pair the comparators are
streaming; ``pop`` (the k-step's last AND cycle) releases it. Ls = 0: the comparators read the
input port directly and the port is acknowledged (``ready``) by ``pop``.

Handshake: a pair is taken at the clock edge ending a cycle in which ``valid`` and ``ready``
are both 1; the producer holds it until then.
"""

from __future__ import annotations

from amaranth.hdl import Elaboratable, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data

from .params import EXPONENT_BITS, TileParams


def operand_layout(p: TileParams) -> data.StructLayout:
    """One k-step's scaled vector pair as it travels to the comparators."""
    return data.StructLayout({
        "q_x": data.ArrayLayout(unsigned(p.w + 1), p.cols),
        "q_delta": data.ArrayLayout(unsigned(p.w + 1), p.rows),
        "x_signs": p.cols,
        "delta_signs": p.rows,
        "shift": p.shift_bits,
        "last": 1,
    })


class ShiftScaler(Elaboratable):
    """Operand port + alignment-shift computation + Ls-stage elastic pipeline.

    Ports in: ``valid``, ``q_x[i]``, ``x_signs`` (cols bits), ``q_delta[j]``, ``delta_signs``,
    ``e_x``, ``e_delta``, ``last``, ``exponent`` (E), ``pop``. Ports out: ``ready``,
    ``out_valid``, ``out`` (:func:`operand_layout`).
    """

    def __init__(self, p: TileParams):
        self.p = p
        self.valid = Signal()
        self.ready = Signal()
        self.q_x = [Signal(p.w + 1, name=f"in_q_x{i}") for i in range(p.cols)]
        self.q_delta = [Signal(p.w + 1, name=f"in_q_delta{j}") for j in range(p.rows)]
        self.x_signs = Signal(p.cols)
        self.delta_signs = Signal(p.rows)
        self.e_x = Signal(signed(EXPONENT_BITS))
        self.e_delta = Signal(signed(EXPONENT_BITS))
        self.exponent = Signal(signed(EXPONENT_BITS))
        self.last = Signal()
        self.pop = Signal()
        self.out_valid = Signal()
        self.out = Signal(operand_layout(p))
        self.stages = [Signal(operand_layout(p), name=f"stage{k}")
                       for k in range(p.scaler_latency)]
        self.stage_valid = [Signal(name=f"stage{k}_valid") for k in range(p.scaler_latency)]

    def elaborate(self, platform):
        m = Module()
        p = self.p
        entry = Signal(operand_layout(p))
        s = Signal(signed(EXPONENT_BITS + 2))
        m.d.comb += s.eq(self.exponent - self.e_x - self.e_delta)
        m.d.comb += [
            entry.shift.eq(Mux(s < 0, 0, Mux(s > p.max_shift, p.max_shift, s))),
            entry.x_signs.eq(self.x_signs), entry.delta_signs.eq(self.delta_signs),
            entry.last.eq(self.last),
        ]
        m.d.comb += [entry.q_x[i].eq(q) for i, q in enumerate(self.q_x)]
        m.d.comb += [entry.q_delta[j].eq(q) for j, q in enumerate(self.q_delta)]
        if not self.stages:
            m.d.comb += [self.out.eq(entry), self.out_valid.eq(self.valid),
                         self.ready.eq(self.pop)]
            return m
        n = len(self.stages)
        leaves = [Signal(name=f"leave{k}") for k in range(n)]   # stage k's pair moves on
        enters = [Signal(name=f"enter{k}") for k in range(n)]   # stage k takes a pair
        m.d.comb += leaves[n - 1].eq(self.pop & self.stage_valid[n - 1])
        for k in reversed(range(n)):
            before_valid = self.valid if k == 0 else self.stage_valid[k - 1]
            m.d.comb += enters[k].eq(before_valid & (~self.stage_valid[k] | leaves[k]))
            if k > 0:
                m.d.comb += leaves[k - 1].eq(enters[k])
            before = entry if k == 0 else self.stages[k - 1]
            with m.If(enters[k]):
                m.d.sync += self.stages[k].eq(before)
            m.d.sync += self.stage_valid[k].eq(enters[k] | (self.stage_valid[k] & ~leaves[k]))
        m.d.comb += [self.ready.eq(~self.stage_valid[0] | leaves[0]),
                     self.out.eq(self.stages[-1]), self.out_valid.eq(self.stage_valid[-1])]
        return m
