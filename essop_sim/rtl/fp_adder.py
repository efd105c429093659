"""The FP16 baseline's accumulate step in Amaranth HDL 0.5: binary16 / binary32 adder and MAC.

docs/numerics-fp16.md step 3: per element, k in order from +0, ``acc = fl16(acc + p)``
(``fp16.accumulator: fp16``) or ``acc = fl32(acc + p)`` (``fp32``); RNE, overflow to infinity,
inf + -inf = NaN, raw NaN patterns canonical (0x7E00 / 0x7FC00000); +0 + -0 = +0.

* :class:`FpAdder` (combinational): s = fl(x + y) in one IEEE binary format (:data:`BINARY16`
  or :data:`BINARY32`), round to nearest even, subnormals, signed zeros (an exact zero sum is
  -0 only when both operands are -0), inf, canonical NaN.
* :class:`Widen16` (combinational): the exact binary16 -> binary32 conversion of a product
  (binary16 subnormals are normal in binary32: a leading-zero count and shift).
* :class:`Fp16Mac`: :class:`~.fp16_multiplier.Fp16Multiplier` without its output rank, then
  widen and add into the accumulator register. Timing as the event model states it
  (essop_sim/datapaths/fp16/pipeline.py): a product issued in cycle c is "added into its
  accumulator in its last pipeline cycle c + D - 1" and leaves at boundary c + D: the
  accumulator register *is* the D-th rank. ``first`` (the element's first product: add to +0)
  and ``last`` travel with the product; ``done`` is high in the cycle the element's final
  value is in ``acc`` (D cycles after ``last`` was issued).

Adder algorithm (widths for a format of E exponent and F fraction bits): swap so |big| >=
|small| (IEEE magnitudes order like integers), align small's F+1-bit significand, extended by
guard, round and sticky bits, right by the exponent difference (bits shifted out OR into
sticky), add or subtract (F+5 bits), normalise (right by one on a carry; else left by the
leading zeros, but never below exponent 1: subnormal results), round to nearest even on
{exponent, fraction} + 1 (a carry moves to the next binade or to infinity).
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Cat, Const, Elaboratable, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .fp16_multiplier import Fp16Multiplier, _count_leading_zeros


@dataclass(frozen=True)
class FpFormat:
    """An IEEE 754 binary format: ``exp_bits`` E, ``frac_bits`` F (width 1 + E + F bits)."""

    name: str
    exp_bits: int
    frac_bits: int

    @property
    def width(self) -> int:
        return 1 + self.exp_bits + self.frac_bits

    @property
    def qnan(self) -> int:
        """Canonical quiet NaN: sign 0, exponent all ones, fraction MSB only."""
        return ((1 << self.exp_bits) - 1) << self.frac_bits | 1 << (self.frac_bits - 1)

    @property
    def inf(self) -> int:
        return ((1 << self.exp_bits) - 1) << self.frac_bits


BINARY16 = FpFormat("binary16", 5, 10)
BINARY32 = FpFormat("binary32", 8, 23)
FORMATS = {"fp16": BINARY16, "fp32": BINARY32}


def _lzc(x):
    """Leading zeros of a Value (any width) via the power-of-two LZC tree, padded below."""
    n = 1 << max(0, (len(x) - 1).bit_length())
    _, count = _count_leading_zeros(Cat(Const(0, n - len(x)), x))
    return count


class FpAdder(Elaboratable):
    """Combinational s = fl(x + y), RNE, in format ``fmt`` (see module docstring)."""

    def __init__(self, fmt: FpFormat = BINARY32):
        self.fmt = fmt
        self.x = Signal(fmt.width)
        self.y = Signal(fmt.width)
        self.s = Signal(fmt.width)

    def elaborate(self, platform):
        m = Module()
        E, F = self.fmt.exp_bits, self.fmt.frac_bits
        emax = (1 << E) - 1

        def fields(v):
            e, f = v[F:F + E], v[:F]
            return v[F + E], e, f, e.all() & ~f.any(), e.all() & f.any()

        sx, _, _, inf_x, nan_x = fields(self.x)
        sy, _, _, inf_y, nan_y = fields(self.y)
        # swap: big has the larger magnitude (IEEE magnitudes order like unsigned integers)
        swap = self.y[:F + E] > self.x[:F + E]
        big = Signal(self.fmt.width)
        small = Signal(self.fmt.width)
        m.d.comb += [big.eq(Mux(swap, self.y, self.x)), small.eq(Mux(swap, self.x, self.y))]
        sb, eb_raw, fb = big[F + E], big[F:F + E], big[:F]
        ss, es_raw, fs = small[F + E], small[F:F + E], small[:F]
        eb = Mux(eb_raw.any(), eb_raw, 1)                 # effective exponents (subnormal: 1)
        es = Mux(es_raw.any(), es_raw, 1)
        mb = Cat(Const(0, 3), fb, eb_raw.any())           # F+4 bits: hidden, fraction, G R S
        ms = Cat(Const(0, 3), fs, es_raw.any())
        d = Signal(E)
        m.d.comb += d.eq(eb - es)
        width = F + 4
        dc = Signal(range(width + 1))                     # clamp: beyond F+4 all goes to sticky
        m.d.comb += dc.eq(Mux(d > width, width, d))
        aligned = Signal(width)
        lost = Signal()
        m.d.comb += [
            aligned.eq(ms >> dc),
            lost.eq((ms & ((Const(1, 1) << dc) - 1)[:width]).any()),
        ]
        ms_al = Cat(aligned[0] | lost, aligned[1:])      # sticky into the S bit
        sub = sb ^ ss
        total = Signal(width + 1)
        m.d.comb += total.eq(Mux(sub, mb - ms_al, mb + ms_al))
        # normalise
        carry = total[width]
        lz = Signal(range(width + 1))
        m.d.comb += lz.eq(_lzc(total[:width]))
        room = Signal(E + 1)                              # left shift allowed: eb - 1
        m.d.comb += room.eq(eb - 1)
        shl = Signal(range(width + 1))
        m.d.comb += shl.eq(Mux(lz < room, lz, room))
        left = Signal(width)
        m.d.comb += left.eq(total[:width] << shl)
        right = Cat(total[1] | total[0], total[2:width + 1])   # >> 1, keeping the sticky
        norm = Signal(width)
        m.d.comb += norm.eq(Mux(carry, right, left))
        e_pre = Signal(E + 1)                             # biased exponent before rounding
        m.d.comb += e_pre.eq(Mux(carry, eb + 1, Mux(norm[width - 1], eb - shl, 0)))
        guard, sticky, lsb = norm[2], norm[1] | norm[0], norm[3]
        up = guard & (sticky | lsb)
        mag = Signal(E + F + 1)
        m.d.comb += mag.eq(Cat(norm[3:3 + F], e_pre[:E]) + up)
        ovf = (e_pre >= emax) | mag[E + F]
        zero = ~total.any()
        nan = nan_x | nan_y | (inf_x & inf_y & (sx ^ sy))
        inf_any = inf_x | inf_y
        inf_sign = Mux(inf_x, sx, sy)
        m.d.comb += self.s.eq(
            Mux(nan, self.fmt.qnan,
                Mux(inf_any, Cat(Const(self.fmt.inf, E + F), inf_sign),
                    Mux(ovf, Cat(Const(self.fmt.inf, E + F), sb),
                        Mux(zero, Cat(Const(0, E + F), sx & sy),
                            Cat(mag[:E + F], sb))))))
        return m


class Widen16(Elaboratable):
    """Combinational exact binary16 -> binary32 (NaN stays NaN, with the payload shifted)."""

    def __init__(self):
        self.h = Signal(16)
        self.f = Signal(32)

    def elaborate(self, platform):
        m = Module()
        s, e, f = self.h[15], self.h[10:15], self.h[:10]
        lz = Signal(4)
        m.d.comb += lz.eq(_lzc(f))                       # 0 .. 9 for a nonzero subnormal
        sub_frac = Signal(10)
        m.d.comb += sub_frac.eq((f << (lz + 1))[:10])
        exp32 = Mux(e.all(), 0xFF, Mux(e.any(), e + 112, Mux(f.any(), 112 - lz, 0)))
        frac = Mux(e.any(), f, Mux(f.any(), sub_frac, 0))
        m.d.comb += self.f.eq(Cat(Const(0, 13), frac, exp32[:8], s))
        return m


class AccRegister(Elaboratable):
    """The accumulator register: q <= d when en (``width`` reset-less flip-flops)."""

    def __init__(self, width: int):
        self.d = Signal(width)
        self.en = Signal()
        self.q = Signal(width, reset_less=True)

    def elaborate(self, platform):
        m = Module()
        with m.If(self.en):
            m.d.sync += self.q.eq(self.d)
        return m


class Fp16Mac(wiring.Component):
    """Pipelined FP16 multiply-accumulate: acc = fl_A(acc + fl16(a x b)), latency D.

    Ports in: a, b (binary16), valid_in, first (add to +0 instead of acc), last (the
    element's final product). Out: acc (16 or 32 bits, the accumulator register), done (high
    in the cycle acc holds an element's final value, D cycles after its ``last`` issue).
    Submodules: the multiplier's five stages (``mul``, output rank removed), ``widen`` (fp32
    only), ``adder``, ``acc_reg`` (:class:`AccRegister`); the top holds the first/last side band
    (D - 1 ranks) and ``done``.
    """

    def __init__(self, depth: int = 4, accumulator: str = "fp32"):
        if accumulator not in FORMATS:
            raise ValueError(f"accumulator must be 'fp16' or 'fp32', got {accumulator!r}")
        self.depth = int(depth)
        self.accumulator = accumulator
        self.fmt = FORMATS[accumulator]
        super().__init__({"a": In(16), "b": In(16), "valid_in": In(1), "first": In(1),
                          "last": In(1), "acc": Out(self.fmt.width), "done": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.mul = mul = Fp16Multiplier(self.depth, output_register=False)
        m.submodules.adder = add = FpAdder(self.fmt)
        m.d.comb += [mul.a.eq(self.a), mul.b.eq(self.b), mul.valid_in.eq(self.valid_in)]
        # side band beside the product through the multiplier's D - 1 ranks
        first, last = self.first, self.last
        for i in range(self.depth - 1):
            f, la = Signal(name=f"first_r{i}"), Signal(name=f"last_r{i}")
            m.d.sync += [f.eq(first), la.eq(last)]
            first, last = f, la
        if self.accumulator == "fp32":
            m.submodules.widen = widen = Widen16()
            m.d.comb += widen.h.eq(mul.p)
            product = widen.f
        else:
            product = mul.p
        m.submodules.acc_reg = reg = AccRegister(self.fmt.width)
        acc = reg.q
        done = Signal()
        m.d.comb += [add.x.eq(Mux(first, 0, acc)), add.y.eq(product),
                     reg.d.eq(add.s), reg.en.eq(mul.valid_out)]
        m.d.sync += done.eq(mul.valid_out & last)
        m.d.comb += [self.acc.eq(acc), self.done.eq(done)]
        return m


__all__ = [
    "BINARY16", "BINARY32", "FORMATS", "AccRegister", "FpAdder", "FpFormat", "Fp16Mac",
    "Widen16",
]
