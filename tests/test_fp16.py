"""binary16 arithmetic and the FP16 baseline datapath, held bit-exact.

Three independent oracles: numpy's float16 (correctly rounded for products, and for sums when the
exact sum is formed in float64 first), numpy's float32 for binary32 accumulation, and a slow pure
integer reference (sign, exponent, integer significand, explicit round-to-nearest-even) written
here without any floating point.
"""

from __future__ import annotations

import numpy as np
import pytest

from essop_sim.config import load_config
from essop_sim.datapaths.fp16 import numerics as fp16_datapath
from essop_sim.errors import OperandError
from essop_sim.numerics import fp16 as F
from essop_sim.numerics import outer_product

# ---------------------------------------------------------------------------------------------
# The integer reference: binary16 as (sign, integer significand M, exponent e), value M * 2^e.


def ref_decode(h: int) -> tuple[int, int, int] | None:
    """(sign, M, e) with value (-1)^sign * M * 2^e; None for inf/NaN."""
    sign, exp, frac = h >> 15, (h >> 10) & 0x1F, h & 0x3FF
    if exp == 0x1F:
        return None
    if exp == 0:
        return sign, frac, -24
    return sign, 1024 + frac, exp - 25


def ref_round(sign: int, M: int, e: int) -> int:
    """Round the exact value (-1)^sign * M * 2^e to binary16, ties to even, in integers only."""
    if M == 0:
        return sign << 15
    t = max(e + M.bit_length() - 11, -24)  # exponent of the kept LSB
    shift = t - e
    if shift > 0:
        q, rem = M >> shift, M & ((1 << shift) - 1)
        half = 1 << (shift - 1)
        if rem > half or (rem == half and q & 1):
            q += 1
    else:
        q = M << -shift
    if q == 2048:
        q, t = 1024, t + 1
    if q < 1024:  # subnormal (t == -24) or zero
        return (sign << 15) | q
    biased = t + 25
    if biased >= 31:
        return (sign << 15) | 0x7C00
    return (sign << 15) | (biased << 10) | (q - 1024)


def ref_mul(a: int, b: int) -> int:
    da, db = ref_decode(a), ref_decode(b)
    sign = (a ^ b) >> 15
    if da is None or db is None:  # only inf operands are exercised
        za = da is not None and da[1] == 0
        zb = db is not None and db[1] == 0
        return F.F16_QNAN if za or zb else (sign << 15) | 0x7C00
    return ref_round(sign, da[1] * db[1], da[2] + db[2])


def ref_add(a: int, b: int) -> int:
    da, db = ref_decode(a), ref_decode(b)
    assert da is not None and db is not None
    e = min(da[2], db[2])
    s = ((-1) ** da[0]) * (da[1] << (da[2] - e)) + ((-1) ** db[0]) * (db[1] << (db[2] - e))
    if s == 0:  # exact zero: -0 only if both operands are -0 (RNE)
        return 0x8000 if (a == 0x8000 and b == 0x8000) else 0
    return ref_round(int(s < 0), abs(s), e)


# ---------------------------------------------------------------------------------------------
# Operand sets

EDGE = [
    0x0000, 0x8000,  # +-0
    0x0001, 0x8001, 0x0002, 0x0003, 0x0200, 0x03FF, 0x83FF,  # subnormals
    0x0400, 0x8400, 0x0401,  # smallest normals
    0x3C00, 0xBC00, 0x3C01, 0x3BFF, 0x3E00, 0x3800, 0x4000, 0xC000, 0x4200,  # around 1
    0x1400, 0x1C00, 0x2000, 0x2400,  # products land in the subnormal range
    0x5BFF, 0x5C00, 0x6000, 0x6800, 0xE800, 0x7800,  # large: products overflow
    0x7BFF, 0xFBFF,  # max normal
    0x1234, 0x9ABC, 0x4D2E, 0x35A7,
]
FINITE_EDGE = [h for h in EDGE if (h & 0x7C00) != 0x7C00]


def f16(bits) -> np.ndarray:
    return np.asarray(bits, np.uint16).view(np.float16)


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal bit patterns, NaNs compared as NaN."""
    a, b = np.asarray(a, np.uint16), np.asarray(b, np.uint16)
    nan_a = (a & 0x7C00 == 0x7C00) & (a & 0x3FF != 0)
    nan_b = (b & 0x7C00 == 0x7C00) & (b & 0x3FF != 0)
    return bool(np.array_equal(nan_a, nan_b) and np.array_equal(a[~nan_a], b[~nan_b]))


@pytest.fixture(scope="module")
def random_pairs() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    a = rng.integers(0, 1 << 16, 200_000, dtype=np.uint16)
    b = rng.integers(0, 1 << 16, 200_000, dtype=np.uint16)
    finite = ((a & 0x7C00) != 0x7C00) & ((b & 0x7C00) != 0x7C00)
    return a[finite], b[finite]


def edge_pairs() -> tuple[np.ndarray, np.ndarray]:
    a, b = np.meshgrid(np.array(EDGE, np.uint16), np.array(EDGE, np.uint16))
    return a.ravel(), b.ravel()


# ---------------------------------------------------------------------------------------------
# Conversions


def test_every_bit_pattern_round_trips_through_float64():
    h = np.arange(1 << 16, dtype=np.uint16)
    values = F.f16_bits_to_float64(h)
    expected = h.view(np.float16).astype(np.float64)
    nan = np.isnan(expected)
    assert np.array_equal(np.isnan(values), nan)
    assert np.array_equal(values[~nan], expected[~nan])
    assert np.array_equal(np.signbit(values[~nan]), np.signbit(expected[~nan]))
    back = F.to_f16_bits(values)
    assert np.array_equal(back[~nan], h[~nan])
    assert np.all(back[nan] == F.F16_QNAN)


def test_rounding_from_float64_matches_numpy_including_ties_and_range_ends():
    rng = np.random.default_rng(1)
    v = rng.standard_normal(300_000) * np.exp(rng.uniform(-28, 12, 300_000))
    # exact ties: odd multiples of half an ulp at several binades, and of half the subnormal step
    ties = np.concatenate([(np.arange(1, 41, 2) * 2.0 ** -11) + 2.0 ** e for e in (0, 5, -14)]
                          + [np.arange(1, 41, 2) * 2.0 ** -25])
    special = [0.0, -0.0, 65504.0, 65519.99, 65520.0, -65520.0, 2.0 ** -24, 2.0 ** -25,
               -2.0 ** -25, 3 * 2.0 ** -26, 2.0 ** -14 - 2.0 ** -26, 1e-30, -1e300, np.inf,
               -np.inf]
    v = np.concatenate([v, ties, -ties, special])
    with np.errstate(over="ignore"):
        expected = v.astype(np.float16)
    assert np.array_equal(F.to_f16_bits(v), expected.view(np.uint16))
    rounded, first = F.round_f16_array(v)
    assert np.array_equal(rounded, expected.astype(np.float64))
    assert np.array_equal(np.signbit(rounded), np.signbit(expected))
    overflowed = np.isfinite(v) & (np.abs(v) >= 65520.0)
    assert first == int(np.argmax(overflowed))  # first finite value that rounded to inf


def test_rounding_ties_go_to_even():
    # 2049 lies halfway between 2048 and 2050 (ulp 2): even significand 2048 wins;
    # 2051 lies between 2050 and 2052: 2052 wins. Half the smallest subnormal rounds to 0.
    assert F.f16_bits_to_f64(F.f64_to_f16_bits(2049.0)) == 2048.0
    assert F.f16_bits_to_f64(F.f64_to_f16_bits(2051.0)) == 2052.0
    assert F.f64_to_f16_bits(2.0 ** -25) == 0x0000
    assert F.f64_to_f16_bits(-(2.0 ** -25)) == 0x8000
    assert F.f64_to_f16_bits(3 * 2.0 ** -25) == 0x0002  # 1.5 quanta -> 2 (even)
    assert F.f64_to_f16_bits(65519.0) == 0x7BFF and F.f64_to_f16_bits(65520.0) == 0x7C00


# ---------------------------------------------------------------------------------------------
# Products and sums


def test_products_match_numpy_float16_on_random_and_edge_operands(random_pairs):
    for a, b in (random_pairs, edge_pairs()):
        with np.errstate(over="ignore", invalid="ignore"):
            expected = (f16(a) * f16(b)).view(np.uint16)
        assert same_bits(F.mul_bits(a, b), expected)


def test_sums_match_float64_sum_rounded_once(random_pairs):
    for a, b in (random_pairs, edge_pairs()):
        with np.errstate(over="ignore", invalid="ignore"):
            exact = f16(a).astype(np.float64) + f16(b).astype(np.float64)
            expected = exact.astype(np.float16).view(np.uint16)
        assert same_bits(F.add_bits(a, b), expected)


def test_integer_reference_agrees_on_edges_and_a_random_sample(random_pairs):
    a_edge, b_edge = edge_pairs()
    a_rand, b_rand = (p[:4000] for p in random_pairs)
    a = np.concatenate([a_edge, a_rand])
    b = np.concatenate([b_edge, b_rand])
    fast_mul, fast_add = F.mul_bits(a, b), F.add_bits(a, b)
    finite = ((a & 0x7C00) != 0x7C00) & ((b & 0x7C00) != 0x7C00)
    for i in range(a.size):
        ai, bi = int(a[i]), int(b[i])
        assert same_bits(fast_mul[i], ref_mul(ai, bi)), (hex(ai), hex(bi))
        if finite[i]:
            assert fast_add[i] == ref_add(ai, bi), (hex(ai), hex(bi))


def test_signed_zeros_subnormals_and_overflow_by_hand():
    assert F.f16_mul(0x8000, 0x3C00) == 0x8000  # -0 * 1 = -0
    assert F.f16_mul(0x8000, 0xBC00) == 0x0000  # -0 * -1 = +0
    assert F.f16_add(0x8000, 0x0000) == 0x0000  # -0 + +0 = +0 under RNE
    assert F.f16_add(0x8000, 0x8000) == 0x8000  # -0 + -0 = -0
    assert F.f16_add(0x3C00, 0xBC00) == 0x0000  # 1 - 1 = +0
    assert F.f16_mul(0x0400, 0x3800) == 0x0200  # min normal / 2 = subnormal, exact
    assert F.f16_mul(0x0001, 0x3800) == 0x0000  # 2^-25 ties to even -> +0
    assert F.f16_mul(0x0003, 0x3800) == 0x0002  # 1.5 * 2^-24 -> 2 * 2^-24 (even)
    assert F.f16_mul(0x7BFF, 0x4000) == 0x7C00  # 65504 * 2 -> +inf
    assert F.f16_mul(0x7BFF, 0xC000) == 0xFC00  # -> -inf
    assert F.f16_add(0x7BFF, 0x4C00) == 0x7C00  # 65504 + 16 = 65520: tie, even side is inf
    assert F.f16_add(0x7BFF, 0x4800) == 0x7BFF  # 65504 + 8 = 65512 -> 65504


# ---------------------------------------------------------------------------------------------
# The datapath


def fp16_config(acc: str, lr: float = 1.0):
    return load_config(overrides={"datapath": "fp16", "fp16.accumulator": acc,
                                  "essop.scaling.learning_rate": lr})


def sequential_reference(x: np.ndarray, delta: np.ndarray, acc: str) -> np.ndarray:
    """acc = fl(acc + fl16(d * x)), k in order, with numpy scalars; returns accumulator bits."""
    x16, d16 = x.astype(np.float16), delta.astype(np.float16)
    K, n = x.shape
    m = delta.shape[1]
    out = np.zeros((m, n), np.float16 if acc == "fp16" else np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        for j in range(m):
            for i in range(n):
                a = np.float16(0) if acc == "fp16" else np.float32(0)
                for k in range(K):
                    p = d16[k, j] * x16[k, i]  # numpy float16 product: correctly rounded
                    if acc == "fp16":
                        a = np.float16(np.float64(a) + np.float64(p))
                    else:
                        a = np.float32(a + np.float32(p))
                out[j, i] = a
    return out.view(np.uint16 if acc == "fp16" else np.uint32)


@pytest.mark.parametrize("acc", ["fp16", "fp32"])
def test_datapath_matches_sequential_numpy_accumulation(acc):
    rng = np.random.default_rng(11)
    K, n, m = 40, 7, 5
    x = np.maximum(rng.standard_normal((K, n)), 0) * np.exp(rng.uniform(-12, 3, (K, n)))
    delta = rng.standard_normal((K, m)) * np.exp(rng.uniform(-14, 2, (K, m)))
    x[3, :] = -0.0
    x[5, :] = 250.0
    delta[5, :] = 1.0
    delta[5, 2] = 300.0  # products 75000 overflow to +inf in binary16 (row 2 only)
    result = outer_product(x, delta, fp16_config(acc, lr=0.5))
    expected = sequential_reference(x, delta, acc)
    assert result.datapath == "fp16"
    assert result.raw.dtype == (np.uint16 if acc == "fp16" else np.uint32)
    assert np.array_equal(result.raw, expected)
    finite = np.isfinite(result.dw)
    assert np.array_equal(result.update[finite], -0.5 * result.dw[finite])
    assert result.activity["fp16_multiplies"] == K * n * m
    assert result.activity[f"{acc}_adds"] == K * n * m
    assert result.activity["product_overflows"] == n  # row 2 of delta times x[5, :]
    assert result.activity["overflows"] >= n
    assert np.all(np.isinf(result.dw[2]))


def test_fp16_accumulation_saturates_where_fp32_does_not():
    # 2048 followed by 64 products of 1: in fp16 each 2048 + 1 is a tie (ulp 2) that rounds
    # back to the even 2048, so the sum stalls; fp32 keeps every unit.
    K = 65
    x = np.ones((K, 1))
    delta = np.ones((K, 1))
    delta[0, 0] = 2048.0
    r16 = outer_product(x, delta, fp16_config("fp16"))
    r32 = outer_product(x, delta, fp16_config("fp32"))
    assert r16.dw[0, 0] == 2048.0 and r16.raw[0, 0] == 0x6800
    assert r32.dw[0, 0] == 2048.0 + 64


def test_inf_minus_inf_gives_canonical_nan_and_counts_overflows():
    x = np.array([[300.0], [300.0]])
    delta = np.array([[300.0], [-300.0]])
    for acc, nan_bits in (("fp16", F.F16_QNAN), ("fp32", F.F32_QNAN)):
        r = outer_product(x, delta, fp16_config(acc))
        assert np.isnan(r.dw[0, 0]) and int(r.raw[0, 0]) == nan_bits
        assert r.activity["product_overflows"] == 2 and r.activity["overflows"] == 2


def test_accumulator_overflow_is_counted_separately():
    x = np.full((3, 1), 250.0)
    delta = np.full((3, 1), 100.0)  # each product 25000: sums 50000, then 75000 -> inf
    r = outer_product(x, delta, fp16_config("fp16"))
    assert r.activity["product_overflows"] == 0
    assert r.activity["accumulator_overflows"] == 1 and r.activity["overflows"] == 1
    assert r.raw[0, 0] == 0x7C00


def test_negative_zero_product_leaves_positive_zero_and_tiny_operands_flush():
    r = outer_product(np.array([[-0.0, 1e-9]]), np.array([[1.0]]), fp16_config("fp16"))
    assert list(r.raw[0]) == [0x0000, 0x0000]  # +0 + -0 = +0; 1e-9 flushed to +0
    assert r.activity["operand_flushes"] == 1


def test_operands_at_exactly_2_to_minus_25_flush_as_documented():
    # docs/numerics-fp16.md: "at or below 2^-25" (the tie rounds to even, i.e. to zero)
    from pathlib import Path

    r = outer_product(np.array([[2.0 ** -25, -(2.0 ** -25), 2.0 ** -25 * 1.0000001]]),
                      np.array([[1.0]]), fp16_config("fp16"))
    assert r.activity["operand_flushes"] == 2 and r.raw[0, 2] == 0x0001
    text = (Path(__file__).resolve().parents[1] / "docs" / "numerics-fp16.md").read_text()
    assert "at or below 2^-25" in text and "operands below 2^-25" not in text


def test_chunking_over_k_and_memory_mapped_input_give_identical_bits(tmp_path, monkeypatch):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((300, 6)).astype(np.float32)
    delta = rng.standard_normal((300, 4)).astype(np.float32) * 1e-2
    whole = outer_product(x, delta, fp16_config("fp32"))
    np.save(tmp_path / "x.npy", x)
    xm = np.load(tmp_path / "x.npy", mmap_mode="r")
    monkeypatch.setattr(fp16_datapath, "CHUNK_BYTES", 4 * 10 * 7)  # 7 rows per chunk
    chunked = outer_product(xm, delta, fp16_config("fp32"))
    assert np.array_equal(whole.raw, chunked.raw)


def test_non_finite_and_out_of_range_operands_name_the_element():
    x = np.ones((4, 3))
    x[2, 1] = np.nan
    with pytest.raises(OperandError, match=r"x\[2, 1\]"):
        outer_product(x, np.ones((4, 2)), fp16_config("fp32"))
    delta = np.ones((4, 2))
    delta[3, 0] = -70000.0
    with pytest.raises(OperandError, match=r"delta\[3, 0\].*binary16 range"):
        outer_product(np.ones((4, 3)), delta, fp16_config("fp32"))
    # 65519 still rounds to the largest finite value and is accepted
    ok = outer_product(np.full((1, 1), 65519.0), np.ones((1, 1)), fp16_config("fp16"))
    assert ok.dw[0, 0] == 65504.0
