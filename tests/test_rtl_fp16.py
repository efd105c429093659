"""FP16 multiplier RTL (essop_sim.rtl.fp16_multiplier): products bit-exact against the binary16
numerics, latency D against the timing model, and the check itself catching a broken rounding.

The 10,000-pair check is `essop-sim rtl fp16`; this file runs a fast seeded subset.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("amaranth")

from essop_sim.numerics.fp16 import mul_bits  # noqa: E402
from essop_sim.rtl import fp16_multiplier as fm  # noqa: E402
from essop_sim.rtl.fp16_check import (  # noqa: E402
    CATEGORY_SHARES,
    RESULT_CLASSES,
    check_multiplier,
    edge_pairs,
    model_depth_and_drain,
    operand_pairs,
    simulate_multiplier,
)


def test_stage_ranks_place_exactly_d_registers():
    assert fm.stage_ranks(1) == (0, 0, 0, 0, 1)          # output registered
    assert fm.stage_ranks(2) == (0, 1, 0, 0, 1)          # + after the multiply
    assert fm.stage_ranks(4) == (1, 1, 1, 0, 1)
    assert fm.stage_ranks(5) == (1, 1, 1, 1, 1)          # one per stage
    assert fm.stage_ranks(9) == (1, 5, 1, 1, 1)          # extras deepen the multiply
    for d in range(1, 20):
        assert sum(fm.stage_ranks(d)) == d
    # data bits per rank (31, 31, 22, 19, 16) plus one valid bit per rank
    assert fm.pipeline_register_bits(1) == 16 + 1
    assert fm.pipeline_register_bits(4) == 31 + 31 + 22 + 16 + 4
    for bad in (0, -1, 2.5):
        with pytest.raises(ValueError, match="pipeline depth"):
            fm.stage_ranks(bad)


def test_special_values_by_ieee_rules_and_canonical_nan():
    pairs = [
        (0x7E01, 0x3C00, 0x7E00),   # quiet NaN with payload -> canonical NaN
        (0xFD55, 0x3C00, 0x7E00),   # negative signalling NaN -> canonical NaN (sign 0)
        (0x3C00, 0xFFFF, 0x7E00),
        (0x7C00, 0x0000, 0x7E00),   # inf x 0
        (0x8000, 0xFC00, 0x7E00),   # -0 x -inf
        (0xFC00, 0x4000, 0xFC00),   # -inf x 2
        (0xFC00, 0x0001, 0xFC00),   # -inf x smallest subnormal
        (0x8000, 0x3C00, 0x8000),   # -0 x 1 = -0
        (0x8000, 0x8001, 0x0000),   # -0 x -subnormal = +0
        (0x7BFF, 0x3C01, 0x7C00),   # 65504 x (1 + 2^-10) overflows
        (0x7BFF, 0xBC00, 0xFBFF),   # -65504
        (0x0001, 0x3800, 0x0000),   # 2^-25: the tie between 0 and 2^-24 goes to even (0)
        (0x0001, 0x3801, 0x0001),   # just above the tie: smallest subnormal
        (0x0003, 0x3800, 0x0002),   # 1.5 * 2^-24: tie to even 2 * 2^-24
        (0x03FF, 0x3C01, 0x0400),   # largest subnormal x (1 + ulp) rounds up into 2^-14
        (0x3C01, 0x3C01, 0x3C02),   # (1 + 2^-10)^2 = 1 + 2^-9 + 2^-20: rounds down
        (0x3C03, 0x3E00, 0x3E04),   # exact tie (1 + 3*2^-10) x 1.5 -> even
    ]
    a, b, want = (np.array(c, np.uint16) for c in zip(*pairs, strict=True))
    assert np.array_equal(mul_bits(a, b), want)       # the numerics agree with the table
    run = simulate_multiplier(a, b, 3)
    assert [hex(x) for x in run.products] == [hex(x) for x in want]


def test_fast_subset_all_classes_and_three_depths():
    a, b, cat = operand_pairs(400, seed=1)
    assert set(np.unique(cat)) == set(range(len(CATEGORY_SHARES)))
    res = check_multiplier(a, b, (4, 1, 3), cat, seed=1)
    assert res.passed, res.summary()
    assert res.mismatch_count == 0
    assert res.latency == {4: [4], 1: [1], 3: [3]}
    assert res.drain[4] == (400 + 4 - 1, 400 + 4 - 1)      # back to back: N + D - 1
    for d in (1, 3):                                        # with bubbles
        assert res.drain[d][0] == res.drain[d][1] > 400 + d - 1
    for k in RESULT_CLASSES:
        assert res.per_result[k] > 0, k
    assert res.per_result["ties"] >= 60


def test_all_pairs_of_edge_values():
    a, b = edge_pairs()
    assert len(a) == 41 * 41
    res = check_multiplier(a, b, (2,))
    assert res.passed, res.summary()


def test_every_fraction_against_structured_partners():
    """All 2048 patterns of a (exponents 0 and 15, every fraction) x 4 partners chosen so the
    products cover normal, subnormal, underflow-to-zero and overflow results."""
    fr = np.arange(1024, dtype=np.uint16)
    a = np.concatenate([fr, fr | 0x3C00])              # subnormals (and 0), [1, 2)
    partners = (0x3C01, 0x0C03, 0x7BFF, 0x2AAB)        # 1+ulp, 2^-12 * 1.003, 65504, ~0.0557
    aa = np.tile(a, len(partners))
    bb = np.repeat(np.array(partners, np.uint16), len(a))
    res = check_multiplier(aa, bb, (5,))
    assert res.passed, res.summary()
    assert {"zero", "subnormal", "normal", "inf"} <= {k for k, v in res.per_result.items() if v}


def test_timing_model_depth_and_drain():
    for d in (1, 2, 6):
        assert model_depth_and_drain(d, 10) == (d, 10 + d - 1)


def test_check_catches_round_half_up(monkeypatch):
    """A multiplier that rounds ties up instead of to even must fail exactly on ties."""
    from amaranth.hdl import Cat

    def half_up(self, m):
        res = fm.Signal(fm.ROUNDED)
        n = self.inp
        m.d.comb += [res.sign.eq(n.sign), res.cls.eq(n.cls),
                     res.mag.eq(Cat(n.w[1:11], n.e[:5]) + n.w[0]), res.ovf.eq(n.e >= 31)]
        return res

    monkeypatch.setattr(fm.Round, "logic", half_up)
    a, b, cat = operand_pairs(300, seed=2)
    res = check_multiplier(a, b, (2,), cat)
    assert not res.passed
    ties = res.per_result["ties"]
    assert 0 < res.mismatch_count <= ties


def _comb(dut, rows, ins, out):
    """Evaluate a combinational Elaboratable on rows of input values (amaranth.sim)."""
    from amaranth.sim import Simulator

    res = []

    async def bench(ctx):
        for vals in rows:
            for sig, v in zip(ins, vals, strict=True):
                ctx.set(sig, int(v))
            await ctx.delay(1e-9)
            res.append(ctx.get(out))

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    return np.array(res, np.uint64)


def test_fp16_adder_equals_numerics_add_bits():
    from essop_sim.numerics.fp16 import add_bits
    from essop_sim.rtl.fp_adder import BINARY16, FpAdder

    rng = np.random.default_rng(5)
    n = 1500
    a = rng.integers(0, 1 << 16, n).astype(np.uint16)
    near = a ^ rng.integers(0, 1 << 11, n).astype(np.uint16) ^ np.uint16(0x8000)  # cancel
    b = np.where(rng.random(n) < 0.5, rng.integers(0, 1 << 16, n), near).astype(np.uint16)
    b[:50] = a[:50] ^ np.uint16(0x8000)                                  # exact x + (-x)
    edges = np.array([0x0000, 0x8000, 0x7C00, 0xFC00, 0x7BFF, 0x0001, 0x83FF, 0x3C00,
                      0xBC00, 0x7E00], np.uint16)
    a = np.concatenate([a, np.repeat(edges, len(edges))])
    b = np.concatenate([b, np.tile(edges, len(edges))])
    dut = FpAdder(BINARY16)
    got = _comb(dut, zip(a, b, strict=True), [dut.x, dut.y], dut.s).astype(np.uint16)
    want = add_bits(a, b)
    assert np.array_equal(got, want), [(hex(x), hex(y)) for x, y in
                                       zip(a[got != want][:5], b[got != want][:5], strict=True)]
    assert np.sum(want == 0) > 10 and np.sum(want == 0x7E00) > 10    # cancellations, NaNs


def test_fp32_adder_equals_ieee_binary32_and_widen_is_exact():
    from essop_sim.rtl.fp_adder import BINARY32, FpAdder, Widen16

    rng = np.random.default_rng(6)
    n = 1500
    x = rng.integers(0, 1 << 32, n, dtype=np.uint64).astype(np.uint32)
    near = x ^ rng.integers(0, 1 << 26, n).astype(np.uint32) ^ np.uint32(1 << 31)
    y = np.where(rng.random(n) < 0.5, rng.integers(0, 1 << 32, n, dtype=np.uint64),
                 near).astype(np.uint32)
    x[rng.random(n) < 0.15] &= np.uint32(0x807FFFFF)                   # subnormals
    y[rng.random(n) < 0.15] &= np.uint32(0x807FFFFF)
    dut = FpAdder(BINARY32)
    got = _comb(dut, zip(x, y, strict=True), [dut.x, dut.y], dut.s).astype(np.uint32)
    with np.errstate(all="ignore"):
        want = (x.view(np.float32) + y.view(np.float32)).view(np.uint32).copy()
    want[np.isnan(want.view(np.float32))] = 0x7FC00000
    assert np.array_equal(got, want)
    # binary16 -> binary32: every subnormal, zeros, infinities, NaN and random normals
    h = np.concatenate([np.arange(0, 1024), np.arange(0x8000, 0x8400), [0x7C00, 0xFC00],
                        rng.integers(0x0400, 0x7C00, 300)]).astype(np.uint16)
    w = Widen16()
    got = _comb(w, ((v,) for v in h), [w.h], w.f).astype(np.uint32)
    assert np.array_equal(got, h.view(np.float16).astype(np.float32).view(np.uint32))
    nan = _comb(w, [(0x7E00,)], [w.h], w.f).astype(np.uint32)
    assert np.isnan(nan.view(np.float32)).all()


@pytest.mark.parametrize("accumulator", ["fp16", "fp32"])
def test_mac_equals_fp16_datapath_and_done_after_d_cycles(accumulator):
    from essop_sim.rtl.fp16_check import check_mac

    for d in (1, 3):
        res = check_mac(12, 4, 5, d, accumulator, seed=7)
        assert res.passed, res.summary()
        assert res.done_latency == [d]
        assert res.special["zero"] >= 4 and res.special["inf"] + res.special["nan"] >= 1
