"""The FP16 baseline's pipelined binary16 multiplier in Amaranth HDL 0.5.

What it computes is what docs/numerics-fp16.md states for products (step 2) and what
:func:`essop_sim.numerics.fp16.f16_mul` computes on bit patterns: p = fl16(a * b), round to
nearest even, subnormal inputs and results kept (gradual underflow), overflow to signed
infinity, signed zeros by IEEE rules (-0 x 1 = -0). Inputs that are NaN, and inf x 0, give the
canonical quiet NaN 0x7E00 (sign 0, payload dropped), the pattern ``f16_mul`` returns for every
NaN result; inf x finite nonzero and inf x inf give a signed infinity.

Timing: one product accepted per cycle (``issue_interval`` 1), latency D = ``depth`` cycles
(``fp16.pipeline_depth``): operands presented with ``valid_in`` in cycle c appear on ``p`` with
``valid_out`` in cycle c + D, i.e. after D clock edges; D register ranks lie on the path.

Structure (five combinational stages, each a submodule that ends in its share of the D ranks):

===========  ==================================================================  ========
stage        logic                                                               out bits
===========  ==================================================================  ========
unpack       fields, class (zero/sub/inf/NaN), hidden bits, exponent sum Ea+Eb   31
multiply     11 x 11 -> 22-bit significand product                               31
normalise    leading-zero count, biased exponent, one shifter (left to a normal  22
             result or to the subnormal grid, right with sticky for underflow)
round        RNE: guard, sticky, lsb; increment of {exponent, fraction} (a carry  19
             gives the next binade or infinity); overflow flag
pack         select NaN / inf / zero / finite, sign                              16
===========  ==================================================================  ========

The D ranks are placed by :func:`stage_ranks`: the output is always registered; the next ranks
go after the multiply, after normalise, after unpack and after round (D = 5: one per stage);
ranks beyond five are added after the multiply (a deeper multiplier array). The ``valid``
bit runs beside the data in D resettable flip-flops; data registers have no reset.

Binary16 recap (unit-free bit patterns): sign s, biased exponent e (5 bits, bias 15), fraction f
(10 bits); e = 0 is zero/subnormal (value f * 2^-24), e = 31 is inf (f = 0) or NaN.
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from dataclasses import dataclass

from amaranth.hdl import Cat, Const, Elaboratable, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

#: Names of the five combinational stages, in order (also their submodule names).
STAGES = ("unpack", "multiply", "normalise", "round", "pack")
#: Order in which register ranks are given to stage boundaries (index into STAGES: the rank
#: goes *after* that stage) for D <= 5; further ranks go after 'multiply'.
RANK_PRIORITY = (4, 1, 2, 0, 3)
#: Class codes carried through the pipeline.
FINITE, ZERO, INF, NAN = 0, 1, 2, 3
#: Canonical quiet NaN produced for every NaN result (the pattern of numerics.fp16.F16_QNAN).
QNAN = 0x7E00
#: Bit pattern of +infinity.
INF_BITS = 0x7C00

#: Stage output layouts (field -> width in bits).
UNPACKED = data.StructLayout({"sign": 1, "cls": 2, "ma": 11, "mb": 11, "esum": 6})
PRODUCT = data.StructLayout({"sign": 1, "cls": 2, "p": 22, "esum": 6})
NORMALISED = data.StructLayout({"sign": 1, "cls": 2, "e": 6, "w": 12, "sticky": 1})
ROUNDED = data.StructLayout({"sign": 1, "cls": 2, "mag": 15, "ovf": 1})
STAGE_LAYOUTS = (UNPACKED, PRODUCT, NORMALISED, ROUNDED, None)   # pack's output is p[16]
#: Register bits of one rank after each stage (pack: the 16-bit result).
STAGE_OUT_BITS = (UNPACKED.size, PRODUCT.size, NORMALISED.size, ROUNDED.size, 16)


def stage_ranks(depth: int) -> tuple[int, ...]:
    """Register ranks after each of the five stages for latency ``depth`` (cycles, >= 1).

    >>> stage_ranks(1), stage_ranks(4), stage_ranks(7)
    ((0, 0, 0, 0, 1), (1, 1, 1, 0, 1), (1, 3, 1, 1, 1))
    """
    if int(depth) != depth or depth < 1:
        raise ValueError(f"pipeline depth must be an integer >= 1 cycles, got {depth!r}")
    ranks = [0] * len(STAGES)
    for i in range(int(depth)):
        ranks[RANK_PRIORITY[i] if i < len(RANK_PRIORITY) else 1] += 1
    return tuple(ranks)


def pipeline_register_bits(depth: int) -> int:
    """Flip-flops of a multiplier of latency ``depth``: data ranks plus one valid bit per rank."""
    return sum(r * b for r, b in zip(stage_ranks(depth), STAGE_OUT_BITS, strict=True)) + int(depth)


def _delay(m: Module, value, ranks: int, name: str, shape=None):
    """``value`` through ``ranks`` reset-less registers (a wire for 0); returns the last one."""
    cur = value
    for i in range(ranks):
        reg = Signal(shape if shape is not None else len(value), name=f"{name}_r{i}",
                     reset_less=True)
        m.d.sync += reg.eq(cur)
        cur = reg
    return cur


def _count_leading_zeros(x):
    """(all_zero, count) of a Value whose width is a power of two: a log-depth LZC tree."""
    n = len(x)
    if n == 1:
        return ~x[0], Const(0, 0)
    hi_zero, hi_count = _count_leading_zeros(x[n // 2:])
    lo_zero, lo_count = _count_leading_zeros(x[:n // 2])
    return hi_zero & lo_zero, Cat(Mux(hi_zero, lo_count, hi_count), hi_zero)


class _Stage(Elaboratable, metaclass=ABCMeta):
    """A combinational stage followed by ``ranks`` pipeline registers (its ``out``)."""

    layout: data.StructLayout | None = None

    def __init__(self, ranks: int):
        self.ranks = ranks
        self.out = Signal(self.layout) if self.layout is not None else Signal(16)

    @abstractmethod
    def logic(self, m: Module):
        """Add the stage's combinational logic to ``m``; returns its result value."""

    def elaborate(self, platform):
        m = Module()
        comb = self.logic(m)
        shape = self.layout if self.layout is not None else 16
        m.d.comb += self.out.eq(_delay(m, comb, self.ranks, "stage", shape))
        return m


class Unpack(_Stage):
    """Fields and class of both operands; significands with hidden bit; Ea + Eb (6 bits)."""

    layout = UNPACKED

    def __init__(self, ranks: int):
        super().__init__(ranks)
        self.a = Signal(16)
        self.b = Signal(16)

    def logic(self, m: Module):
        res = Signal(UNPACKED)
        flags = []
        for x, sig in ((self.a, res.ma), (self.b, res.mb)):
            e, f = x[10:15], x[:10]
            e_max, e_zero, f_zero = e.all(), ~e.any(), ~f.any()
            flags.append((e_max & f_zero, e_max & ~f_zero, e_zero & f_zero))  # inf, nan, zero
            m.d.comb += sig.eq(Cat(f, ~e_zero))       # hidden bit 1 unless zero/subnormal
        (ia, na, za), (ib, nb, zb) = flags
        ea = Mux(self.a[10:15].any(), self.a[10:15], 1)   # subnormals weigh like e = 1
        eb = Mux(self.b[10:15].any(), self.b[10:15], 1)
        nan = na | nb | (ia & zb) | (za & ib)
        m.d.comb += [
            res.sign.eq(self.a[15] ^ self.b[15]),
            res.esum.eq(ea + eb),
            res.cls.eq(Mux(nan, NAN, Mux(ia | ib, INF, Mux(za | zb, ZERO, FINITE)))),
        ]
        return res


class Multiply(_Stage):
    """The 11 x 11 significand product (22 bits); sign, class and Ea + Eb pass through."""

    layout = PRODUCT

    def __init__(self, ranks: int):
        super().__init__(ranks)
        self.inp = Signal(UNPACKED)

    def logic(self, m: Module):
        res = Signal(PRODUCT)
        u = self.inp
        m.d.comb += [res.sign.eq(u.sign), res.cls.eq(u.cls), res.esum.eq(u.esum),
                     res.p.eq(u.ma * u.mb)]
        return res


class Normalise(_Stage):
    """Align the product P (value P * 2^(Ea+Eb-50)) to the binary16 grid.

    lz = leading zeros of P in 22 bits. Normal result iff lz <= Ea+Eb-15: shift left by lz,
    biased exponent e = Ea+Eb-14-lz (>= 1; >= 31 overflows). Otherwise the result is subnormal
    before rounding: e = 0 and P is shifted by s = Ea+Eb-15 (left if s >= 0, right by up to 13
    bits if not) so that bit 21 weighs 2^-14. Out: w = bits 21..10 of P * 2^s (hidden bit,
    10 fraction bits, guard), sticky = OR of every lower bit, including those shifted out.
    """

    layout = NORMALISED

    def __init__(self, ranks: int):
        super().__init__(ranks)
        self.inp = Signal(PRODUCT)

    def logic(self, m: Module):
        res = Signal(NORMALISED)
        q = self.inp
        _, lz32 = _count_leading_zeros(Cat(Const(0, 10), q.p))   # = lz of the 22-bit P
        lz = Signal(5)
        m.d.comb += lz.eq(lz32)
        room = Signal(signed(7))          # Ea + Eb - 15: left shift that keeps e >= 1
        m.d.comb += room.eq(q.esum - 15)
        normal = Signal()
        m.d.comb += normal.eq(room >= lz)
        s = Signal(signed(7))             # shift of P, in [-13, 21]
        m.d.comb += s.eq(Mux(normal, lz, room))
        window = Cat(Const(0, 13), q.p)   # P * 2^13, 35 bits
        rshift = Signal(6)                # 23 - s in [2, 36]: (P * 2^13) >> rshift = P*2^(s-10)
        m.d.comb += rshift.eq(23 - s)
        t = Signal(5)                     # P's bits below index 10 - s are below the guard
        m.d.comb += t.eq(Mux(s > 10, 0, Mux(s < -12, 22, 10 - s)))
        below = ((Const(1, 1) << t) - 1)[:22]
        m.d.comb += [
            res.sign.eq(q.sign), res.cls.eq(q.cls),
            res.e.eq(Mux(normal, room + 1 - lz, 0)),
            res.w.eq((window >> rshift)[:12]),
            res.sticky.eq((q.p & below).any()),
        ]
        return res


class Round(_Stage):
    """Round to nearest, ties to even, on {e[4:0], fraction}: adding the round bit lets a carry
    move to the next binade (or from the largest subnormal to 2^-14, or from 65504's binade
    to the infinity pattern). ovf = e >= 31 before rounding."""

    layout = ROUNDED

    def __init__(self, ranks: int):
        super().__init__(ranks)
        self.inp = Signal(NORMALISED)

    def logic(self, m: Module):
        res = Signal(ROUNDED)
        n = self.inp
        guard, lsb = n.w[0], n.w[1]
        up = guard & (n.sticky | lsb)
        m.d.comb += [
            res.sign.eq(n.sign), res.cls.eq(n.cls),
            res.mag.eq(Cat(n.w[1:11], n.e[:5]) + up),
            res.ovf.eq(n.e >= 31),
        ]
        return res


class Pack(_Stage):
    """The 16-bit result: NaN -> 0x7E00; inf or overflow -> sign | 0x7C00; zero -> sign | 0."""

    layout = None

    def __init__(self, ranks: int):
        super().__init__(ranks)
        self.inp = Signal(ROUNDED)

    def logic(self, m: Module):
        r = self.inp
        mag = Mux(r.cls == ZERO, 0, Mux((r.cls == INF) | r.ovf, INF_BITS, r.mag))
        res = Signal(16)
        m.d.comb += res.eq(Mux(r.cls == NAN, QNAN, Cat(mag[:15], r.sign)))
        return res


class Fp16Multiplier(wiring.Component):
    """Pipelined binary16 multiplier: ``p`` = fl16(``a`` x ``b``), latency ``depth`` cycles.

    ``output_register=False`` leaves out the output rank (``p`` and ``valid_out`` then come
    D - 1 cycles after issue, combinationally from the pack stage) for a consumer whose own
    register is the D-th rank, as :class:`~.fp_adder.Fp16Mac`'s accumulator is.

    Ports: a, b (16-bit binary16 patterns), valid_in (1) in; p (16), valid_out (1) out.
    Submodules: unpack, multiply, normalise, round, pack (see the module docstring), and the
    valid pipeline in the top level.
    """

    def __init__(self, depth: int = 4, output_register: bool = True):
        self.depth = int(depth)
        self.ranks = stage_ranks(self.depth)
        self.output_register = bool(output_register)
        if not self.output_register:   # the consumer's register is rank D (Fp16Mac)
            self.ranks = (*self.ranks[:-1], self.ranks[-1] - 1)
        super().__init__({"a": In(16), "b": In(16), "valid_in": In(1),
                          "p": Out(16), "valid_out": Out(1)})

    @property
    def register_bits(self) -> int:
        """Flip-flops instantiated (data ranks + valid bits)."""
        return (sum(r * b for r, b in zip(self.ranks, STAGE_OUT_BITS, strict=True))
                + sum(self.ranks))

    def elaborate(self, platform):
        m = Module()
        r = self.ranks
        m.submodules.unpack = unpack = Unpack(r[0])
        m.submodules.multiply = mult = Multiply(r[1])
        m.submodules.normalise = norm = Normalise(r[2])
        m.submodules.round = rnd = Round(r[3])
        m.submodules.pack = pack = Pack(r[4])
        valid = self.valid_in
        for i in range(sum(self.ranks)):
            v = Signal(name=f"valid_r{i}")
            m.d.sync += v.eq(valid)
            valid = v
        m.d.comb += [
            unpack.a.eq(self.a), unpack.b.eq(self.b),
            mult.inp.eq(unpack.out), norm.inp.eq(mult.out), rnd.inp.eq(norm.out),
            pack.inp.eq(rnd.out),
            self.p.eq(pack.out), self.valid_out.eq(valid),
        ]
        return m


@dataclass(frozen=True)
class StagePlan:
    """Where the D ranks of a multiplier of latency ``depth`` sit (for reports)."""

    depth: int
    ranks: tuple[int, ...]
    register_bits: int

    @classmethod
    def of(cls, depth: int) -> StagePlan:
        return cls(int(depth), stage_ranks(depth), pipeline_register_bits(depth))


__all__ = [
    "FINITE", "INF", "INF_BITS", "NAN", "QNAN", "RANK_PRIORITY", "STAGES", "STAGE_OUT_BITS",
    "ZERO", "Fp16Multiplier", "Multiply", "Normalise", "Pack", "Round", "StagePlan", "Unpack",
    "pipeline_register_bits", "stage_ranks",
]
