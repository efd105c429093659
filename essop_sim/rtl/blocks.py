"""The datapath blocks of one ESSOP tile between the RNG banks and the accumulators, each its own
Elaboratable (so that synthesis can count them separately):

- :class:`Comparators`: one per active column (x element) and row (delta element); stream bit
  lane l = (random number l < q), q the element's w + 1 bit magnitude (docs/numerics-essop.md
  section 3). Under 'vector' sharing with a fan-out f > 0, bank outputs reach the comparators
  in groups of f over g cycles (docs/timing.md: g - 1 broadcast cycles, then the AND cycle):
  comparator i of group i // f latches its numbers in sub-step i // f; the last group reads the
  bank directly in the AND cycle.
- :class:`Pipeline`: the P register stages between comparators and the AND array, carrying the
  stream bits with their valid bit and the k-step's side band (signs, alignment shift, first /
  last flags).
- :class:`AndArray`: rows x cols x b AND gates.
- :class:`Counters`: one cb-bit coincidence counter per cell, adding the popcount of its b AND
  bits per valid cycle, sticking at 2^cb - 1 ('saturate') or rolling over ('wrap'); on the k-step's
  last bit step it loads the final count into its count register and restarts from 0.
- :class:`Accumulators`: the accumulate stage, a cycle of its own after the count register (so
  a tile is final at e_last + P + 1, docs/timing.md): one A-bit signed accumulator per cell with
  its alignment shifter, v = (c << F) >> s, acc +/- v by the product sign, saturating or
  wrapping to A bits; the tile's first k-step adds to 0 (clears), the last raises ``done`` one
  cycle later.
"""

from __future__ import annotations

from amaranth.hdl import Elaboratable, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data

from .params import TileParams


class Comparators(Elaboratable):
    """Comparators of the active columns and rows (see module docstring).

    Ports in: ``q_x[i]``, ``q_delta[j]`` (w + 1 bits), ``x_numbers[bank][lane]``,
    ``delta_numbers[bank][lane]`` (w bits), ``stream`` (a streaming cycle), ``sub`` (broadcast
    sub-step, 0 .. g - 1), ``lane_en`` (b bits: lanes used in this bit step).
    Ports out: ``x_bits[i]``, ``delta_bits[j]`` (b bits; unused lanes are 0).
    """

    def __init__(self, p: TileParams):
        self.p = p
        self.q_x = [Signal(p.w + 1, name=f"q_x{i}") for i in range(p.cols)]
        self.q_delta = [Signal(p.w + 1, name=f"q_delta{j}") for j in range(p.rows)]
        self.x_numbers = [[Signal(p.w, name=f"rx{b}_{lane}") for lane in range(p.lanes)]
                          for b in range(p.banks_x)]
        self.delta_numbers = [[Signal(p.w, name=f"rd{b}_{lane}") for lane in range(p.lanes)]
                              for b in range(p.banks_delta)]
        self.stream = Signal()
        self.sub = Signal(range(p.broadcast))
        self.lane_en = Signal(p.lanes)
        self.x_bits = [Signal(p.lanes, name=f"x_bits{i}") for i in range(p.cols)]
        self.delta_bits = [Signal(p.lanes, name=f"delta_bits{j}") for j in range(p.rows)]

    def _side(self, m: Module, q, banks, bits, name: str) -> None:
        p = self.p
        g = p.broadcast
        for i, (qi, out) in enumerate(zip(q, bits, strict=True)):
            numbers = banks[i] if len(banks) > 1 else banks[0]
            group = i // p.fanout if g > 1 else g - 1
            if group < g - 1:   # served in an earlier broadcast cycle: hold the numbers
                held = [Signal(p.w, name=f"{name}{i}_held{lane}") for lane in range(p.lanes)]
                with m.If(self.stream & (self.sub == group)):
                    m.d.sync += [h.eq(n) for h, n in zip(held, numbers, strict=True)]
                numbers = held
            for lane in range(p.lanes):
                m.d.comb += out[lane].eq((numbers[lane] < qi) & self.lane_en[lane])

    def elaborate(self, platform):
        m = Module()
        self._side(m, self.q_x, self.x_numbers, self.x_bits, "x")
        self._side(m, self.q_delta, self.delta_numbers, self.delta_bits, "delta")
        return m


def stream_layout(p: TileParams) -> data.StructLayout:
    """What travels through the P pipeline stages each cycle: valid stream bits and the
    k-step's side band (bits per field: see :class:`Pipeline`)."""
    return data.StructLayout({
        "valid": 1,              # an AND cycle's bits
        "last": 1,               # ... of the k-step's last bit step
        "first": 1,              # the tile's first k-step (accumulators start from 0)
        "final": 1,              # the tile's last k-step
        "x_bits": data.ArrayLayout(unsigned(p.lanes), p.cols),
        "delta_bits": data.ArrayLayout(unsigned(p.lanes), p.rows),
        "x_signs": p.cols,       # sign bits (1 = negative) of the k-step's x elements
        "delta_signs": p.rows,
        "shift": p.shift_bits,   # accumulator alignment shift s (cycles: none; bits)
    })


class Pipeline(Elaboratable):
    """P register stages (P = ``pipeline_stages``); ``o`` is ``i`` delayed by P cycles (P = 0:
    a wire). Ports: ``i`` (in), ``o`` (out), both of :func:`stream_layout`."""

    def __init__(self, p: TileParams):
        self.p = p
        layout = stream_layout(p)
        self.i = Signal(layout)
        self.o = Signal(layout)
        self.stages = [Signal(layout, name=f"stage{k}") for k in range(p.pipeline_stages)]

    def elaborate(self, platform):
        m = Module()
        prev = self.i
        for stage in self.stages:
            m.d.sync += stage.eq(prev)
            prev = stage
        m.d.comb += self.o.eq(prev)
        return m


class AndArray(Elaboratable):
    """rows x cols cells of b AND gates: ``ands[j][i] = x_bits[i] & delta_bits[j]``."""

    def __init__(self, p: TileParams):
        self.p = p
        self.x_bits = [Signal(p.lanes, name=f"x_bits{i}") for i in range(p.cols)]
        self.delta_bits = [Signal(p.lanes, name=f"delta_bits{j}") for j in range(p.rows)]
        self.ands = [[Signal(p.lanes, name=f"and{j}_{i}") for i in range(p.cols)]
                     for j in range(p.rows)]

    def elaborate(self, platform):
        m = Module()
        for j, row in enumerate(self.ands):
            for i, cell in enumerate(row):
                m.d.comb += cell.eq(self.x_bits[i] & self.delta_bits[j])
        return m


class Counters(Elaboratable):
    """Coincidence counters, cb bits each.

    Ports in: ``ands[j][i]`` (b bits), ``valid``, ``last``. Ports out (the count register,
    loaded on ``valid & last`` and held until the next k-step's last bit step):
    ``count[j][i]`` (the k-step's count after overflow handling), ``overflow[j][i]`` (the true
    count exceeded 2^cb - 1 during the k-step).
    """

    def __init__(self, p: TileParams):
        self.p = p
        self.ands = [[Signal(p.lanes, name=f"and{j}_{i}") for i in range(p.cols)]
                     for j in range(p.rows)]
        self.valid = Signal()
        self.last = Signal()
        self.count = [[Signal(p.counter_bits, name=f"count{j}_{i}") for i in range(p.cols)]
                      for j in range(p.rows)]
        self.overflow = [[Signal(name=f"overflow{j}_{i}") for i in range(p.cols)]
                         for j in range(p.rows)]

    def elaborate(self, platform):
        m = Module()
        p = self.p
        top = (1 << p.counter_bits) - 1
        for j in range(p.rows):
            for i in range(p.cols):
                reg = Signal(p.counter_bits, name=f"counter{j}_{i}")
                seen = Signal(name=f"overflowed{j}_{i}")
                bits = self.ands[j][i]
                raw = reg + sum(bits[lane] for lane in range(p.lanes))
                over = raw > top
                nxt = Mux(over, top, raw) if p.saturate else raw[:p.counter_bits]
                with m.If(self.valid):
                    m.d.sync += [reg.eq(Mux(self.last, 0, nxt)),
                                 seen.eq(Mux(self.last, 0, seen | over))]
                    with m.If(self.last):   # the count register
                        m.d.sync += [self.count[j][i].eq(nxt),
                                     self.overflow[j][i].eq(seen | over)]
        return m


class Accumulators(Elaboratable):
    """The accumulate stage: signed accumulators, A bits each, with the alignment shifter
    (v = (c << F) >> s).

    Ports in: ``hand_off`` (the counters load their count registers at the end of this cycle:
    valid & last), with it the k-step's ``first``, ``final``, ``x_signs``, ``delta_signs``,
    ``shift`` (registered here alongside the counts), and ``count[j][i]`` (the counters' count
    registers). Ports out: ``accumulate`` (this cycle accumulates: ``hand_off`` one cycle
    later), ``acc[j][i]`` (registers, signed A bits), ``saturated[j][i]`` (combinational: this
    accumulate left the A-bit range), ``done`` (one cycle, the first in which the tile's
    accumulators are final).
    """

    def __init__(self, p: TileParams):
        self.p = p
        self.count = [[Signal(p.counter_bits, name=f"count{j}_{i}") for i in range(p.cols)]
                      for j in range(p.rows)]
        self.hand_off = Signal()
        self.first = Signal()
        self.final = Signal()
        self.x_signs = Signal(p.cols)
        self.delta_signs = Signal(p.rows)
        self.shift = Signal(p.shift_bits)
        self.acc = [[Signal(signed(p.accumulator_bits), name=f"acc{j}_{i}")
                     for i in range(p.cols)] for j in range(p.rows)]
        self.saturated = [[Signal(name=f"saturated{j}_{i}") for i in range(p.cols)]
                          for j in range(p.rows)]
        self.accumulate = Signal()
        self.done = Signal()

    def elaborate(self, platform):
        m = Module()
        p = self.p
        A = p.accumulator_bits
        # the k-step's side band, registered with the counts
        first, final = Signal(name="first_r"), Signal(name="final_r")
        x_signs = Signal(p.cols, name="x_signs_r")
        delta_signs = Signal(p.rows, name="delta_signs_r")
        shift = Signal(p.shift_bits, name="shift_r")
        m.d.sync += self.accumulate.eq(self.hand_off)
        with m.If(self.hand_off):
            m.d.sync += [first.eq(self.first), final.eq(self.final),
                         x_signs.eq(self.x_signs), delta_signs.eq(self.delta_signs),
                         shift.eq(self.shift)]
        hi, lo = (1 << (A - 1)) - 1, -(1 << (A - 1))
        for j in range(p.rows):
            for i in range(p.cols):
                acc = self.acc[j][i]
                v = (self.count[j][i] << p.fraction_bits) >> shift
                base = Mux(first, 0, acc)
                neg = x_signs[i] ^ delta_signs[j]
                total = Mux(neg, base - v, base + v)
                above, below = total > hi, total < lo
                if p.saturate:
                    result = Mux(above, hi, Mux(below, lo, total))
                else:
                    result = total[:A].as_signed()
                m.d.comb += self.saturated[j][i].eq(above | below)
                with m.If(self.accumulate):
                    m.d.sync += acc.eq(result)
        m.d.sync += self.done.eq(self.accumulate & final)
        return m
