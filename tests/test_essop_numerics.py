"""ESSOP numerics: bit-exact agreement with the per-cycle reference, LFSR algebra, edge cases."""

from __future__ import annotations

import dataclasses
import itertools
import math
from pathlib import Path

import numba
import numpy as np
import pytest
from reference_essop import reference_essop

from essop_sim import HardwareConfig, OperandError, outer_product
from essop_sim.datapaths.essop import numerics as essop_module
from essop_sim.datapaths.essop.numerics import effective_learning_rate, essop_outer_product
from essop_sim.errors import ConfigError
from essop_sim.numerics import comparator
from essop_sim.numerics import threads as thread_policy
from essop_sim.numerics.lfsr import (
    DEFAULT_TAPS,
    RngBanks,
    jump_tables,
    lfsr_seed_state,
    lfsr_shift,
    splitmix64,
    tap_mask,
)


def make_config(**kw) -> HardwareConfig:
    """HardwareConfig with essop fields set; keys 'rng_*' and 'sc_*' go to rng and scaling."""
    rng_kw = {k[4:]: v for k, v in kw.items() if k.startswith("rng_")}
    sc_kw = {k[3:]: v for k, v in kw.items() if k.startswith("sc_")}
    es_kw = {k: v for k, v in kw.items() if not k.startswith(("rng_", "sc_"))}
    e = HardwareConfig().essop
    e = dataclasses.replace(e, rng=dataclasses.replace(e.rng, **rng_kw),
                            scaling=dataclasses.replace(e.scaling, **sc_kw), **es_kw)
    return dataclasses.replace(HardwareConfig(), essop=e)


def assert_matches_reference(x, d, config, seed, **kw):
    ref = reference_essop(x, d, config, seed)
    got = essop_outer_product(x, d, config, seed, **kw)
    np.testing.assert_array_equal(got.raw, ref["raw"])
    np.testing.assert_array_equal(got.x_shifts, ref["x_shifts"])
    np.testing.assert_array_equal(got.delta_shifts, ref["delta_shifts"])
    for key, value in ref["activity"].items():
        assert got.activity[key] == value, key
    F, bl = config.essop.accumulator_fraction_bits, config.essop.bitstream_length
    assert got.lsb_weight == math.ldexp(1.0, ref["E"] - F) / bl
    np.testing.assert_array_equal(got.dw, ref["dw"])
    return got, ref


def operands(rg, K, n, m):
    """Random operands with the awkward values mixed in: 0, -0.0, exact powers of two, and in
    every row an element of largest magnitude (u = 1: an always-one stream)."""
    x = rg.standard_normal((K, n)) * 2.0 ** rg.integers(-3, 4, (K, 1))
    d = rg.standard_normal((K, m)) * 2.0 ** rg.integers(-6, 2, (K, 1))
    x[0, 0] = 0.0
    x[-1, -1] = -0.0
    d[0, -1] = -(2.0 ** rg.integers(-2, 2))
    x[:, 1] = -np.abs(x).max(axis=1)
    d[:, 0] = np.abs(d).max(axis=1)
    return x, d


# The reference grid: every (comparator width, BL, sharing, kind) combination, each under all
# four (sequence, granularity) combinations; seed, K, LFSR width, steps per number and the
# overflow regime rotate with the case index so that every value meets every axis.
GRID = list(itertools.product((1, 3, 8), (1, 5, 64, 65, 130), ("vector", "element"),
                              ("lfsr", "ideal")))


@pytest.mark.parametrize(("w", "bl", "sharing", "kind"), GRID)
def test_kernels_equal_per_cycle_reference(w, bl, sharing, kind):
    idx = GRID.index((w, bl, sharing, kind))
    rg = np.random.default_rng(idx)
    for sub, (sequence, granularity) in enumerate(itertools.product(
            ("continue", "restart"), ("vector", "batch"))):
        case = 4 * idx + sub
        K = (1, 3)[case % 2]
        small = case % 3 != 0  # small counter and accumulator that do overflow
        config = make_config(
            bitstream_length=bl, comparator_bits=w, rng_sharing=sharing, rng_kind=kind,
            rng_sequence=sequence, sc_granularity=granularity,
            rng_lfsr_bits=(16, 11, 8)[case % 3] if w <= 8 else 16,
            rng_steps_per_number=(None, 3)[(case // 2) % 2],
            counter_bits=(16, 3, 2)[case % 3], accumulator_bits=(32, 7, 5)[case % 3],
            accumulator_fraction_bits=(8, 2, 1)[case % 3],
            overflow=("saturate", "wrap")[(case // 3) % 2])
        x, d = operands(rg, K, 3, 2)
        seed = int(rg.integers(0, 2**63 - 1))
        got, _ = assert_matches_reference(x, d, config, seed, chunk=(1, 2, None)[case % 3])
        if small and bl >= 64 and granularity == "vector":
            # Each row holds a u = 1 element, so cell (0, 1) counts BL > 2^counter_bits - 1.
            assert got.activity["counter_overflows"] > 0


@pytest.mark.parametrize("overflow", ["saturate", "wrap"])
def test_accumulator_overflow_matches_reference(overflow):
    # Large equal-sign products over K = 3 with a 6-bit accumulator: every cell leaves the range.
    config = make_config(bitstream_length=64, comparator_bits=8, counter_bits=8,
                         accumulator_bits=6, accumulator_fraction_bits=1, overflow=overflow)
    x = np.array([[1.0, -1.0, 0.9]] * 3)
    d = np.array([[1.0, 0.95]] * 3)
    got, _ = assert_matches_reference(x, d, config, 7, chunk=1)
    assert got.activity["accumulator_saturations"] > 0
    if overflow == "saturate":
        assert got.raw.max() == 31 and got.raw.min() == -32


def test_counter_wrap_and_saturate_differ_as_specified():
    # u = 1 on both sides: every cycle is a coincidence, c = BL = 64 for every cell.
    for overflow, expect in (("saturate", 15), ("wrap", 64 % 16)):
        config = make_config(bitstream_length=64, counter_bits=4, accumulator_fraction_bits=0,
                             overflow=overflow)
        r = essop_outer_product(np.array([[2.0]]), np.array([[-0.5]]), config, 3)
        assert r.raw.tolist() == [[-expect]]
        assert r.activity == {"counter_increments": 64, "counter_overflows": 1,
                              "accumulator_saturations": 0, "k": 1}


def test_larger_problem_matches_reference_with_element_sharing():
    rg = np.random.default_rng(11)
    x, d = operands(rg, 4, 7, 5)
    config = make_config(bitstream_length=70, rng_sharing="element", rng_lfsr_bits=13)
    assert_matches_reference(x, d, config, 99, chunk=3)


# ---------------------------------------------------------------- invariances

def _big_operands(K=300, n=37, m=11, seed=5):
    rg = np.random.default_rng(seed)
    x = np.maximum(rg.standard_normal((K, n)), 0) * 2.0 ** rg.integers(-4, 4, (K, 1))
    d = rg.standard_normal((K, m)) * 2.0 ** rg.integers(-20, -10, (K, 1))
    x[5] = 0.0  # an all-zero vector
    d[7] = 0.0
    return x, d


@pytest.mark.parametrize("sharing", ["vector", "element"])
@pytest.mark.parametrize("regime", ["fast", "checked"])
def test_chunk_size_does_not_change_results(sharing, regime):
    x, d = _big_operands()
    extra = {} if regime == "fast" else dict(accumulator_bits=16, counter_bits=5)
    config = make_config(bitstream_length=130, rng_sharing=sharing, **extra)
    base = essop_outer_product(x, d, config, 4)
    for chunk in (1, 7, 64, 299, 10_000):
        r = essop_outer_product(x, d, config, 4, chunk=chunk)
        np.testing.assert_array_equal(r.raw, base.raw)
        assert r.activity == base.activity
    if regime == "checked":
        assert base.activity["counter_overflows"] > 0


@pytest.mark.parametrize("kind", ["lfsr", "ideal"])
@pytest.mark.parametrize("sequence", ["continue", "restart"])
def test_table_direct_and_mask_streams_agree(kind, sequence):
    # 'mask' builds a partial last word (BL % 64 != 0) from a 64-number compare, masked
    x, d = _big_operands(K=50)
    for w, bl in ((8, 64), (3, 130), (1, 5), (8, 63), (8, 8), (5, 127)):
        config = make_config(bitstream_length=bl, comparator_bits=w, rng_kind=kind,
                             rng_sequence=sequence)
        a = essop_outer_product(x, d, config, 8, stream_method="table")
        for method in ("direct", "mask"):
            b = essop_outer_product(x, d, config, 8, stream_method=method)
            np.testing.assert_array_equal(a.raw, b.raw)
            assert a.activity == b.activity


def test_serial_and_parallel_identical(monkeypatch):
    monkeypatch.setattr(essop_module, "SERIAL_WORK", 0)  # small updates would run serially
    monkeypatch.setattr(thread_policy, "free_cores", lambda: 64)  # and so would a busy machine
    x, d = _big_operands(K=120, n=33, m=9)
    configs = [make_config(), make_config(rng_sharing="element", bitstream_length=100),
               make_config(accumulator_bits=14, overflow="wrap")]
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        serial = [essop_outer_product(x, d, c, 2) for c in configs]
    finally:
        numba.set_num_threads(threads)
    for c, s in zip(configs, serial, strict=True):
        p = essop_outer_product(x, d, c, 2)
        np.testing.assert_array_equal(p.raw, s.raw)
        assert p.activity == s.activity


def test_memmap_and_dtypes_give_identical_results(tmp_path):
    x, d = _big_operands(K=64)
    x32, d32 = x.astype(np.float32), d.astype(np.float32)
    config = make_config()
    base = essop_outer_product(x32.astype(np.float64), d32.astype(np.float64), config, 1)
    xm = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.float32,
                                   shape=x32.shape)
    xm[:] = x32
    xm.flush()
    xm = np.load(tmp_path / "x.npy", mmap_mode="r")
    r = essop_outer_product(xm, d32, config, 1, chunk=5)
    np.testing.assert_array_equal(r.raw, base.raw)
    # Integer operands are converted to float64.
    xi = np.arange(12).reshape(3, 4) - 5
    di = np.array([[1, -2], [3, 0], [0, 0]])
    np.testing.assert_array_equal(
        essop_outer_product(xi, di, config, 0).raw,
        essop_outer_product(xi.astype(float), di.astype(float), config, 0).raw)


def test_dispatcher_uses_config_seed_and_essop():
    x, d = _big_operands(K=10)
    config = dataclasses.replace(make_config(), seed=1234)
    a = outer_product(x, d, config)
    b = essop_outer_product(x, d, config, 1234)
    np.testing.assert_array_equal(a.raw, b.raw)
    assert a.datapath == "essop"
    c = outer_product(x, d, config, seed=1235)
    assert not np.array_equal(a.raw, c.raw)


def test_bits_per_cycle_and_timing_fields_do_not_change_numerics():
    x, d = _big_operands(K=20)
    a = essop_outer_product(x, d, make_config(), 3)
    b = essop_outer_product(x, d, make_config(bits_per_cycle=16, pipeline_stages=7,
                                              shift_scaler_latency=0), 3)
    np.testing.assert_array_equal(a.raw, b.raw)


# ---------------------------------------------------------------- exact values and edges

def test_powers_of_two_are_exact_and_dw_is_raw_times_lsb():
    # u = 1 for both operands: always-one streams, c = BL, so dw is the exact product.
    r = essop_outer_product(np.array([[-8.0, 8.0]]), np.array([[0.25]]), make_config(), 0)
    np.testing.assert_array_equal(r.dw, [[-2.0, 2.0]])
    assert r.raw.tolist() == [[-(64 << 8), 64 << 8]]
    # Two outer products with different exponents: k = 1 enters shifted right by 1.
    x = np.array([[-8.0], [4.0]])
    d = np.array([[0.25], [0.25]])
    r = essop_outer_product(x, d, make_config(), 0)
    assert r.raw.tolist() == [[-(64 << 8) + (64 << 7)]]
    np.testing.assert_array_equal(r.dw, [[-1.0]])
    np.testing.assert_array_equal(r.dw, r.raw * r.lsb_weight)
    assert r.lsb_weight == 2.0 ** (1 - 8) / 64
    np.testing.assert_array_equal(r.x_shifts, [3, 2])
    np.testing.assert_array_equal(r.delta_shifts, [-2, -2])


def test_zeros_negative_zero_and_all_zero_vectors():
    config = make_config()
    r = essop_outer_product(np.zeros((3, 4)), np.ones((3, 2)), config, 0)
    assert not r.raw.any() and not r.dw.any()
    assert r.lsb_weight == 2.0 ** -8 / 64  # E = 0 when nothing is active
    assert r.activity["counter_increments"] == 0
    # -0.0 is positive and contributes nothing; an all-zero delta_k drops out of E.
    x = np.array([[-0.0, 1.0], [1.0, 1.0]])
    d = np.array([[1.0], [0.0]])
    r = essop_outer_product(x, d, config, 0)
    assert r.raw.tolist() == [[0, 64 << 8]]
    np.testing.assert_array_equal(r.x_shifts, [0, 0])
    np.testing.assert_array_equal(r.delta_shifts, [0, 0])
    np.testing.assert_array_equal(r.dw, [[0.0, 1.0]])
    # A huge all-zero-delta outer product does not move E.
    x = np.array([[1.0], [1e300]])
    d = np.array([[1.0], [0.0]])
    r = essop_outer_product(x, d, config, 0)
    assert r.dw.tolist() == [[1.0]]


def test_huge_exponent_spread_shifts_out_small_products():
    # s_k far beyond 62 bits: the small product's count is shifted out entirely.
    x = np.array([[1e150, 1.0], [1e-150, 3e-150]])
    d = np.array([[1e150], [1e-150]])
    config = make_config(accumulator_bits=63, accumulator_fraction_bits=40)
    got, ref = assert_matches_reference(x, d, config, 1)
    assert ref["E"] - (got.x_shifts[1] + got.delta_shifts[1]) > 62
    first = essop_outer_product(x[:1], d[:1], config, 1)  # same numbers for k = 0
    np.testing.assert_array_equal(got.raw, first.raw)
    assert got.activity["counter_increments"] > first.activity["counter_increments"]
    # Denormals scale exactly: 1e-323 = 2^-1073 and 2^-1074 both have u = 1.
    x = np.array([[5e-324, 1e-323]])
    d = np.array([[2.0 ** -1074]])
    got, _ = assert_matches_reference(x, d, make_config(), 2)
    assert got.x_shifts.tolist() == [-1073] and got.delta_shifts.tolist() == [-1074]
    assert got.raw[0, 1] == 64 << 8


def test_dw_over_and_underflows_like_float64():
    # docs/numerics-essop.md section 8: 2^(E - F) beyond the double range gives inf / 0, no error.
    from essop_sim.config import load_config

    r = outer_product(np.array([1e300]), np.array([1e300]), load_config(), seed=0)
    assert r.raw[0, 0] > 0 and r.dw[0, 0] == math.inf and r.lsb_weight == math.inf
    assert r.update[0, 0] == -math.inf
    r = outer_product(np.array([-1e160]), np.array([1e160]), load_config(), seed=0)
    assert r.raw[0, 0] < 0 and r.dw[0, 0] == -math.inf
    r = outer_product(np.array([1e-300]), np.array([1e-300]), load_config(), seed=0)
    assert r.raw[0, 0] > 0 and r.dw[0, 0] == 0.0 and r.lsb_weight == 0.0
    # Finite results are unchanged: dw = ldexp(raw, E - F) / BL.
    r = outer_product(np.array([1e150]), np.array([1e150]), load_config(), seed=0)
    assert np.isfinite(r.dw).all() and r.dw[0, 0] == pytest.approx(1e300, rel=0.05)


def test_one_dimensional_inputs_are_one_outer_product():
    x = np.array([0.5, -0.25, 0.125])
    d = np.array([0.3, -0.7])
    a = outer_product(x, d, make_config(), seed=3)
    b = outer_product(x[None], d[None], make_config(), seed=3)
    np.testing.assert_array_equal(a.raw, b.raw)
    assert a.raw.shape == (2, 3) and a.x_shifts.shape == (1,)


def test_operand_errors_are_clear():
    config = make_config()
    with pytest.raises(OperandError, match="same K"):
        outer_product(np.ones((3, 2)), np.ones((4, 2)), config)
    with pytest.raises(OperandError, match="empty"):
        outer_product(np.ones((0, 2)), np.ones((0, 2)), config)
    x = np.ones((5, 4))
    x[3, 2] = np.nan
    with pytest.raises(OperandError, match=r"x\[3, 2\] is nan"):
        essop_outer_product(x, np.ones((5, 2)), config, 0, chunk=2)
    d = np.ones((5000, 2), dtype=np.float32)
    d[4321, 1] = -np.inf
    with pytest.raises(OperandError, match=r"delta\[4321, 1\] is -inf"):
        essop_outer_product(np.ones((5000, 3)), d, config, 0)
    with pytest.raises(OperandError, match="numeric"):
        outer_product(np.array([["a"]]), np.ones((1, 1)), config)


def test_configuration_errors_are_clear():
    x, d = np.ones((1, 2)), np.ones((1, 2))
    with pytest.raises(ConfigError, match="comparator_bits"):
        essop_outer_product(x, d, make_config(comparator_bits=12, rng_lfsr_bits=10), 0)
    with pytest.raises(ConfigError, match="taps_x.*include 16"):
        essop_outer_product(x, d, make_config(rng_taps_x=(15, 3)), 0)
    with pytest.raises(ConfigError, match="taps_delta"):
        essop_outer_product(x, d, make_config(rng_taps_delta=(16, 17)), 0)


def test_effective_learning_rate():
    from fractions import Fraction

    assert effective_learning_rate(0.0, "shift") == 0.0
    assert effective_learning_rate(0.3, "multiply") == 0.3
    assert effective_learning_rate(1.0, "shift") == 1.0
    assert effective_learning_rate(0.3, "shift") == 0.25
    assert effective_learning_rate(1e6, "shift") == 2.0**20
    # The rounding boundary between 2^-2 and 2^-1 is 2^-1.5 (irrational, so never a tie):
    # v rounds up iff v^2 >= 1/8, decided here with exact rationals.
    b = 2.0**-1.5
    above, below = float(np.nextafter(b, 1.0)), float(np.nextafter(b, 0.0))
    for v in (above, below, b):
        want = 0.5 if Fraction(v) ** 2 >= Fraction(1, 8) else 0.25
        assert effective_learning_rate(v, "shift") == want
    assert effective_learning_rate(above, "shift") == 0.5
    assert effective_learning_rate(below, "shift") == 0.25
    r = essop_outer_product(np.ones((1, 2)), np.ones((1, 1)),
                            make_config(sc_learning_rate=3.0), 0)
    assert r.learning_rate == 4.0
    np.testing.assert_array_equal(r.update, -4.0 * r.dw)


# ---------------------------------------------------------------- LFSR algebra

def _polymulmod(a, b, p, deg):
    out = 0
    while b:
        if b & 1:
            out ^= a
        b >>= 1
        a <<= 1
        if (a >> deg) & 1:
            a ^= p
    return out


def _x_pow(e, p, deg):
    result, base = 1, 0b10  # the polynomial x
    while e:
        if e & 1:
            result = _polymulmod(result, base, p, deg)
        base = _polymulmod(base, base, p, deg)
        e >>= 1
    return result


def _prime_factors(n):
    out, f = [], 2
    while f * f <= n:
        if n % f == 0:
            out.append(f)
            while n % f == 0:
                n //= f
        f += 1
    return out + ([n] if n > 1 else [])


def test_default_taps_are_primitive_polynomials():
    assert sorted(DEFAULT_TAPS) == list(range(2, 33))
    for L, pair in DEFAULT_TAPS.items():
        order = 2**L - 1
        for taps in pair:
            assert max(taps) == L and len(set(taps)) == len(taps)
            p = 1 | sum(1 << t for t in taps)  # x^L + sum x^t + 1
            assert _x_pow(order, p, L) == 1, (L, taps)
            for q in _prime_factors(order):
                assert _x_pow(order // q, p, L) != 1, (L, taps, q)
        x_taps, d_taps = pair
        recip = tuple(sorted({L} | {L - t for t in x_taps if t != L}, reverse=True))
        if L >= 3:
            assert set(x_taps) != set(d_taps), L
        if L >= 5:
            assert set(d_taps) != set(recip), L


def _is_primitive(L, exponents):
    p = 1 | (1 << L) | sum(1 << e for e in exponents)
    order = 2**L - 1
    return _x_pow(order, p, L) == 1 and all(_x_pow(order // q, p, L) != 1
                                            for q in _prime_factors(order))


def _derive_default_taps(L):
    """DEFAULT_TAPS[L] from the rule of docs/numerics-essop.md section 4: characteristic
    trinomials, then pentanomials, in ascending numeric order; taps = L and L - exponent."""
    def taps(exps):
        return tuple(sorted({L} | {L - e for e in exps}, reverse=True))

    trinomials = [(a,) for a in range(1, L)]
    pentanomials = sorted((c[::-1] for c in itertools.combinations(range(1, L), 3)),
                          key=lambda e: sum(1 << x for x in e))
    x = recip = None
    for exps in trinomials + pentanomials:
        if not _is_primitive(L, exps):
            continue
        if x is None:
            x = taps(exps)
            recip = taps(tuple(t for t in x if t != L))
        elif taps(exps) not in (x, recip):
            return x, taps(exps)
    return x, recip  # L = 2, 3, 4: no third primitive polynomial


def test_default_taps_follow_the_documented_rule():
    for L in range(2, 33):
        assert _derive_default_taps(L) == DEFAULT_TAPS[L], L
    text = (Path(__file__).resolve().parents[1] / "docs" / "numerics-essop.md").read_text()
    assert "descending lexicographic" not in text and "ascending numeric order" in text


def test_lfsr_steps_not_coprime_with_the_period_are_documented_config_errors():
    from essop_sim.config import load_config

    with pytest.raises(ConfigError, match="coprime"):
        load_config(overrides={"essop.rng.lfsr_bits": 12, "essop.comparator_bits": 5})
    text = (Path(__file__).resolve().parents[1] / "docs" / "numerics-essop.md").read_text()
    assert "not changed" not in text
    deviations = text[text.index("## Deviations"):]
    assert "L = 12, w = 5" in deviations and "ConfigError" in deviations


@pytest.mark.parametrize("L", range(2, 15))
def test_lfsr_period_is_maximal_by_brute_force(L):
    for taps in DEFAULT_TAPS[L]:
        mask = tap_mask(taps, L)
        start = s = 1
        period = 0
        seen_zero = False
        while True:
            s = lfsr_shift(s, mask, L)
            period += 1
            seen_zero |= s == 0
            if s == start:
                break
        assert period == 2**L - 1 and not seen_zero, (L, taps)


def test_jump_tables_equal_repeated_shifts():
    for L, steps in ((5, 1), (12, 8), (16, 8), (24, 3), (32, 64), (32, 8 * 130)):
        mask = tap_mask(DEFAULT_TAPS[L][1], L)
        tables = jump_tables(mask, L, steps)
        rg = np.random.default_rng(L)
        for s0 in [1, 2**L - 1, *rg.integers(1, 2**L - 1, 5).tolist()]:
            s = s0
            for _ in range(steps):
                s = lfsr_shift(s, mask, L)
            got = 0
            for b in range(tables.shape[0]):
                got ^= int(tables[b, (s0 >> (8 * b)) & 255])
            assert got == s


def test_lfsr_bank_numbers_and_seeds():
    # SplitMix64 seeded with 0: the published first output.
    assert splitmix64(0, 1) == 0xE220A8397B1DCDAF
    for seed in (0, 1, 2**63 - 1):
        for L in (2, 16, 32):
            assert 1 <= lfsr_seed_state(seed, 0, L) <= 2**L - 1
    # Numbers are the low w bits after every spn shifts, continued across take() calls.
    bank = RngBanks("lfsr", "delta", 3, 5, seed=77, lfsr_bits=9, steps_per_number=4,
                    segment=6)
    got = np.concatenate([bank.take(12), bank.take(7), bank.take(18)])
    mask = tap_mask(DEFAULT_TAPS[9][1], 9)
    for b in range(3):
        s = lfsr_seed_state(77, 2 * b + 1, 9)
        want = []
        for _ in range(37):
            for _ in range(4):
                s = lfsr_shift(s, mask, 9)
            want.append(s & 31)
        assert got[:, b].tolist() == want
    np.testing.assert_array_equal(bank.first(12), got[:12])
    # Ideal banks: the top w bits of PCG64 raw outputs, chunk-invariant.
    ideal = RngBanks("ideal", "x", 2, 7, seed=5)
    got = np.concatenate([ideal.take(3), ideal.take(10)])
    raw = np.random.PCG64(np.random.SeedSequence([5, 2])).random_raw(13) >> np.uint64(57)
    np.testing.assert_array_equal(got[:, 1], raw)


def test_use_table_heuristic_prefers_table_for_long_vectors():
    assert comparator.use_table("auto", 144, 8, 64)
    assert comparator.use_table("auto", 27, 8, 64)
    assert not comparator.use_table("auto", 8, 8, 64)
    assert not comparator.use_table("auto", 10_000, 24, 64)  # 2^24-entry table: too big
