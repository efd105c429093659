"""Streams built straight into packed words (numerics.packed_streams, BL 1, 2, 4, 8, 16, 32)
against the two steps they replace, comparator.streams_both then and_counter.pack_groups, bit
for bit; and end to end, essop_outer_product with them against the path without them."""

from __future__ import annotations

import dataclasses
import itertools

import numba
import numpy as np
import pytest
from test_essop_numerics import assert_matches_reference, make_config
from test_essop_numerics import operands as reference_operands

from essop_sim.config import HardwareConfig
from essop_sim.datapaths.essop import numerics as essop_numerics
from essop_sim.numerics import and_counter, comparator, packed_streams, shift_scaler
from essop_sim.numerics.threads import serial_variant


def operands(rg, K, rows, w):
    """[K, rows] float32 operands with every kind of row: mixed signs, all positive, all
    negative, all zero, and elements at the row's top (q = 2^w exactly) or tiny (q = 0)."""
    a = rg.standard_normal((K, rows)).astype(np.float32)
    kind = rg.integers(0, 4, K)
    a[kind == 1] = np.abs(a[kind == 1])
    a[kind == 2] = -np.abs(a[kind == 2])
    a[rg.random(K) < 0.05] = 0.0
    e = rg.integers(-4, 5, K).astype(np.int64)
    a *= np.exp2(e - 3).astype(np.float32)[:, None]  # |a| < 2^e: u = |a| 2^-e < 1
    top = rg.random((K, rows)) < 0.1
    a[top] = (np.sign(a[top]) * np.exp2(e)[:, None].repeat(rows, 1)[top]).astype(np.float32)
    return a, e


def both_ways(rg, K, n, m, bl, w, restart, tasks, serial):
    """(expected, got): pack_groups(streams_both(...)) and packed_streams(...) outputs."""
    x, ex = operands(rg, K, n, w)
    d, ed = operands(rg, K, m, w)
    stride = 0 if restart else bl
    N = (K * stride if stride else 0) + bl + comparator.MASK_PAD
    Rx = rg.integers(0, 1 << w, (N, 1)).astype(np.uint8)
    Rd = rg.integers(0, 1 << w, (N, 1)).astype(np.uint8)
    X = np.empty((K, 1, n), np.uint64)
    D = np.empty((K, 1, m), np.uint64)
    Xs, Ds, Xu = np.empty((K, n), np.int8), np.empty((K, m), np.int8), np.empty(K, np.int8)
    comparator.streams_both(x, ex, Rx, comparator.MODE_MASK, X, Xs, Xu, d, ed, Rd,
                            comparator.MODE_MASK, D, Ds, stride, bl, w, 2)
    lsh = rg.integers(0, 3, K).astype(np.int64)
    rsh = np.where(rg.random(K) < 0.2, rg.integers(1, 9, K), 0).astype(np.int64)
    lsh[rsh > 0] = 0
    active = rg.random(K) < 0.9
    order, gstart, gshift, rest = and_counter.packed_plan(lsh, rsh, active, 64 // bl)
    G = gshift.size
    want = [np.empty((G, n), np.uint64), np.empty((G, n), np.uint64),
            np.empty((G, m), np.uint64), np.empty((G, m), np.uint64)]
    and_counter.pack_groups(X, Xs, D, Ds, order, gstart, bl, *want)
    got = [np.full_like(a, 7) for a in want]
    X2, D2 = np.zeros_like(X), np.zeros_like(D)
    Xs2, Ds2 = np.full_like(Xs, 3), np.full_like(Ds, 3)
    xb, db = packed_streams.SlotBytes.empty(K, n, bl), packed_streams.SlotBytes.empty(K, m, bl)
    for side in (xb, db):  # garbage where nothing is to be read
        side.Q[:-1], side.S[:-2], side.U[:], side.T[:] = 77, 5, 3, True
    kernel = serial_variant(packed_streams.packed_streams) if serial else \
        packed_streams.packed_streams
    gu = np.full(G, 5, np.int8)
    kernel(x, ex, Rx, d, ed, Rd, order, gstart, active, rest, stride, bl, w, *got, gu, X2, Xs2,
           D2, Ds2, xb.Q, xb.S, xb.U, xb.T, db.Q, db.S, db.U, db.T, tasks)
    built = np.union1d(order, np.flatnonzero(rest))  # every active k
    plain = np.flatnonzero(rest)
    mixed_x = order[Xu[order] == 1]  # sign masks kept for the grouped rows with mixed signs
    mixed_d = order[np.array([len(set(Ds[k])) > 1 for k in order], dtype=bool)]
    uniform = and_counter.group_uniform(Xu, order, gstart) == 1
    # a group with uniform x signs has one NX word for every element; only NX[g, 0] is written
    assert (want[1][uniform] == want[1][uniform, :1]).all()
    nx_want, nx_got = want.pop(1), got.pop(1)
    expected = want + [nx_want[~uniform], nx_want[:, :1], Xu[built], Xs[plain], Ds[plain],
                       X[plain], D[plain], Xs[mixed_x], Ds[mixed_d], uniform]
    result = got + [nx_got[~uniform], nx_got[:, :1], xb.U[built], Xs2[plain], Ds2[plain],
                    X2[plain], D2[plain], xb.S[mixed_x, :n], db.S[mixed_d, :m], gu == 1]
    return expected, result


@pytest.mark.parametrize("bl", packed_streams.SLOT_BLS)
def test_packed_streams_equal_streams_then_pack(bl):
    rg = np.random.default_rng(bl)
    for case in range(8):
        K = int(rg.integers(1, 300))
        n, m = int(rg.integers(1, 80)), int(rg.integers(1, 40))
        w = int(rg.integers(1, 9))
        expected, result = both_ways(rg, K, n, m, bl, w, restart=case % 3 == 0,
                                     tasks=int(rg.integers(1, 6)), serial=case % 2 == 0)
        for want, got in zip(expected, result, strict=True):
            np.testing.assert_array_equal(got, want, err_msg=f"case {case}: K {K} n {n} m {m} "
                                                             f"w {w}")


def test_full_magnitude_sets_its_slot():
    """q = 2^8 = 256 does not fit a byte: its slot must still be all ones (and only its slot)."""
    bl, K, n = 8, 8, 3
    x = np.zeros((K, n), np.float32)
    x[2, 1] = 1.0  # e = 0: u = 1, q = 256
    x[5, 1] = 0.75  # q = 192
    d = np.ones((K, 1), np.float32)  # q = 256 everywhere
    e = np.zeros(K, np.int64)
    R = np.full((K * bl + comparator.MASK_PAD, 1), 255, np.uint8)  # only q = 256 beats 255
    order = np.arange(K, dtype=np.int64)
    gstart = np.array([0, K], dtype=np.int64)
    Xp, NX = np.empty((1, n), np.uint64), np.empty((1, n), np.uint64)
    Dp, ND = np.empty((1, 1), np.uint64), np.empty((1, 1), np.uint64)
    xb, db = packed_streams.SlotBytes.empty(K, n, bl), packed_streams.SlotBytes.empty(K, 1, bl)
    plain = [np.empty((K, 1, n), np.uint64), np.empty((K, n), np.int8),
             np.empty((K, 1, 1), np.uint64), np.empty((K, 1), np.int8)]
    packed_streams.packed_streams(x, e, R, d, e, R, order, gstart, np.ones(K, bool),
                                  np.zeros(K, bool), bl, bl, 8, Xp, NX, Dp, ND,
                                  np.empty(1, np.int8), *plain, xb.Q, xb.S, xb.U, xb.T, db.Q,
                                  db.S, db.U, db.T, 1)
    assert list(Xp[0]) == [0, 0xFF << 16, 0]
    assert int(Dp[0, 0]) == (1 << 64) - 1


def test_fits(monkeypatch):
    monkeypatch.setattr(packed_streams, "MIN_CELL_SLOTS", 1024)
    mask = comparator.MODE_MASK
    assert packed_streams.fits(8, mask, mask, np.uint8, 16, 8)
    assert packed_streams.fits(32, mask, mask, np.uint8, 32, 16)
    assert not packed_streams.fits(32, mask, mask, np.uint8, 27, 16)  # 2 * 432 < 1024
    assert not packed_streams.fits(7, mask, mask, np.uint8, 99, 99)  # slots not filling a word
    assert not packed_streams.fits(64, mask, mask, np.uint8, 99, 99)
    assert not packed_streams.fits(8, mask, mask, np.uint32, 99, 99)  # w > 8
    assert not packed_streams.fits(8, comparator.MODE_ELEMENT, mask, np.uint8, 99, 99)


@pytest.fixture(autouse=True)
def any_size(monkeypatch):
    """Build streams packed whatever the size (the shapes here are small)."""
    monkeypatch.setattr(packed_streams, "MIN_CELL_SLOTS", 0)


def _essop_both(x, d, config, seed, chunk, monkeypatch, calls):
    """essop_outer_product with slot streams (counting packed_streams' calls in ``calls``),
    without them, and without any packing."""
    kernel = packed_streams.packed_streams

    def counted(*args):
        calls.append(args[11])  # BL
        return kernel(*args)

    with monkeypatch.context() as mp:
        mp.setattr(packed_streams, "packed_streams", counted)
        out = [essop_numerics.essop_outer_product(x, d, config, seed, chunk=chunk)]
    with monkeypatch.context() as mp:
        mp.setattr(packed_streams, "fits", lambda *a: False)
        out.append(essop_numerics.essop_outer_product(x, d, config, seed, chunk=chunk))
        mp.setattr(and_counter, "PACK_MIN_ROW_SLOTS", 1 << 30)
        out.append(essop_numerics.essop_outer_product(x, d, config, seed, chunk=chunk))
    return out


@pytest.mark.parametrize("threads", [1, 2])
def test_essop_outer_product_unchanged(threads, monkeypatch):
    if threads > numba.config.NUMBA_NUM_THREADS:
        pytest.skip("needs two numba threads")
    base = HardwareConfig()
    rg = np.random.default_rng(40 + threads)
    saved = numba.get_num_threads()
    numba.set_num_threads(threads)
    calls = []
    try:
        for trial in range(12):
            bl = packed_streams.SLOT_BLS[trial % len(packed_streams.SLOT_BLS)]
            K, n, m = int(rg.integers(20, 400)), int(rg.integers(1, 70)), int(rg.integers(1, 50))
            x = rg.standard_normal((K, n)).astype(np.float32)
            if trial % 2:
                x = np.maximum(x, 0)  # ReLU inputs: uniform x signs
            x *= ((rg.random((K, 1)) < 0.9)
                  * np.exp2(rg.integers(-25, 3, (K, 1)))).astype(np.float32)
            d = (rg.standard_normal((K, m)) * 1e-3).astype(np.float32)
            e = base.essop
            config = dataclasses.replace(base, essop=dataclasses.replace(
                e, bitstream_length=bl,
                comparator_bits=int(rg.integers(3, 9)),
                accumulator_fraction_bits=int(rg.integers(0, 12)),
                rng=dataclasses.replace(e.rng, sequence=("restart", "continue")[trial % 2]),
                scaling=dataclasses.replace(e.scaling,
                                            granularity=("vector", "batch")[trial % 3 == 0])))
            with_slots, without, unpacked = _essop_both(x, d, config, trial,
                                                        int(rg.integers(8, 200)), monkeypatch,
                                                        calls)
            for other in (without, unpacked):
                np.testing.assert_array_equal(with_slots.raw, other.raw, err_msg=str(trial))
                assert with_slots.activity == other.activity
    finally:
        numba.set_num_threads(saved)
    assert set(calls) == set(packed_streams.SLOT_BLS)  # the slot streams ran at every BL


@pytest.mark.parametrize(("x_dtype", "d_dtype"), [(np.float64, np.float32),
                                                   (np.float32, np.float64),
                                                   (np.float16, np.float32)])
def test_operands_of_different_dtypes(x_dtype, d_dtype, monkeypatch):
    """x and delta of different float types (each side is quantised in its own type, or in
    float64 for float16) give the same raw accumulator and activity with the slot streams as
    without them and without packing, at every slot BL."""
    base = HardwareConfig()
    rg = np.random.default_rng(7)
    calls = []
    for bl in packed_streams.SLOT_BLS:
        x = np.maximum(rg.standard_normal((90, 13)), 0).astype(x_dtype)
        d = (rg.standard_normal((90, 6)) * 1e-2).astype(d_dtype)
        config = dataclasses.replace(base, essop=dataclasses.replace(base.essop,
                                                                     bitstream_length=bl))
        with_slots, without, unpacked = _essop_both(x, d, config, bl, 40, monkeypatch, calls)
        for other in (without, unpacked):
            np.testing.assert_array_equal(with_slots.raw, other.raw, err_msg=f"BL {bl}")
            assert with_slots.activity == other.activity
    assert set(calls) == set(packed_streams.SLOT_BLS)


SLOT_GRID = list(itertools.product(packed_streams.SLOT_BLS, (1, 3, 8), ("lfsr", "ideal")))


@pytest.mark.parametrize(("bl", "w", "kind"), SLOT_GRID)
def test_streams_built_packed_equal_per_cycle_reference(bl, w, kind, monkeypatch):
    """The independent per-cycle model (tests/reference_essop.py) against essop_outer_product
    with the streams built packed (forced on for these small shapes), under both sequences and
    granularities, on the fast path (wide counter and accumulator)."""
    calls = []
    kernel = packed_streams.packed_streams

    def counted(*args):
        calls.append(args[11])
        return kernel(*args)

    monkeypatch.setattr(packed_streams, "packed_streams", counted)
    idx = SLOT_GRID.index((bl, w, kind))
    rg = np.random.default_rng(500 + idx)
    for sub, (sequence, granularity) in enumerate(itertools.product(
            ("continue", "restart"), ("vector", "batch"))):
        config = make_config(bitstream_length=bl, comparator_bits=w, rng_kind=kind,
                             rng_sequence=sequence, sc_granularity=granularity,
                             rng_lfsr_bits=(16, 11)[sub % 2],
                             accumulator_fraction_bits=(8, 2)[sub % 2])
        x, d = reference_operands(rg, (9, 17)[sub % 2], 4, 3)
        assert_matches_reference(x, d, config, int(rg.integers(0, 2**63 - 1)),
                                 chunk=(None, 5)[sub % 2])
    assert calls and set(calls) == {bl}  # the packed streams were built


def edge_rows(rg, dtype, rows, n):
    """[rows, n] floats of ``dtype`` around a random exponent e per row (moderate, at the
    subnormal end, at the largest finite numbers): random magnitudes up to 2^e, points of the
    8-bit grid q 2^(e - 8), its half-way points (q + 0.5) 2^(e - 8) and their neighbours one
    ulp away, zeros of both signs, and mixed, positive and negative rows."""
    info = np.finfo(dtype)
    tiny, huge = info.minexp - info.nmant, info.maxexp - 1
    out = np.empty((rows, n), dtype)
    for r in range(rows):
        e = int(rg.choice([rg.integers(-8, 9), rg.integers(tiny + 1, tiny + 12),
                           rg.integers(huge - 3, huge + 1), rg.integers(tiny, huge)]))
        grid = np.ldexp(rg.integers(0, 256, n) + rg.choice([0.0, 0.5, 0.25], n), e - 8)
        row = np.where(rg.random(n) < 0.4, np.ldexp(rg.random(n), e), grid)
        row = np.minimum(row, np.ldexp(1.0, e)).astype(dtype)
        near = rg.random(n) < 0.3
        row[near] = np.nextafter(row[near], dtype(np.inf) if r % 2 else dtype(0))
        row[rg.random(n) < 0.1] = 0.0
        if r % 3 == 1:
            row = -row
        elif r % 3 == 2:
            row = np.where(rg.random(n) < 0.5, -row, row)
        if r % 5 == 0:
            row[rg.integers(0, n)] = -0.0
        out[r] = row
    return out


@numba.njit(cache=False)
def _bytes_both_ways(a, e, w, q8, s8, U, T, q_ref, s_ref):
    q = np.empty(a.shape[1], np.int32)
    sg = np.empty(a.shape[1], np.int8)
    for k in range(a.shape[0]):
        U[k], T[k] = packed_streams._quantize_bytes(a[k], e[k], w, q, sg, q8[k], s8[k])
        comparator.quantize_row(a[k], e[k], w, q_ref[k], s_ref[k])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_quantize_bytes_equals_quantize_row(dtype):
    """_quantize_bytes (scaled in the row's own float type when 2^(w - e) is a normal number of
    it) against comparator.quantize_row (float64, or per element ldexp), bit for bit: bytes
    min(q, 255), whether a q is 2^w, uniform signs and the mixed rows' sign masks; at the
    rows' exponents and at exponents far off (2^(w - e) outside the type: the fallback)."""
    rg = np.random.default_rng(17)
    for n in (1, 7, 8, 9, 15, 16, 17, 27, 31, 32, 33, 144):  # scalar, one vector, overlapping
        a = edge_rows(rg, dtype, 60, n)
        with np.errstate(divide="ignore"):
            mx = np.abs(a.astype(np.float64)).max(axis=1)
            e = np.array([shift_scaler.exponent_of(v) for v in mx], np.int64)
        e[::7] += rg.integers(1, 300, e[::7].size)  # rows far below their exponent: q = 0 often
        for w in (1, 5, 8):
            q8, s8 = np.zeros((60, n), np.uint8), np.full((60, n), 9, np.int8)
            U, T = np.empty(60, np.int8), np.empty(60, np.bool_)
            q_ref, s_ref = np.empty((60, n), np.int32), np.empty((60, n), np.int8)
            _bytes_both_ways(a, e, w, q8, s8, U, T, q_ref, s_ref)
            np.testing.assert_array_equal(q8, np.minimum(q_ref, 255), err_msg=f"n {n} w {w}")
            np.testing.assert_array_equal(T, (q_ref > 255).any(axis=1))
            uniform = np.array([comparator.uniform_sign(s) for s in s_ref])
            np.testing.assert_array_equal(U, uniform)
            np.testing.assert_array_equal(s8[U == 1], s_ref[U == 1])
            # uniform rows' masks: not read; written (right) or left as they were
            assert ((s8 == s_ref) | (s8 == 9))[U != 1].all()


@pytest.mark.parametrize(("dtype", "itype"), [(np.float32, np.int32), (np.float64, np.int64)])
def test_exponent_of_bits_equals_exponent_of(dtype, itype):
    """shift_scaler.exponent_of_bits (integer operations on the bit pattern) against
    exponent_of (frexp) on random patterns of every finite non-negative value, powers of two
    and their neighbours, and the subnormals."""
    rg = np.random.default_rng(3)
    inf = np.array(np.inf, dtype).view(itype)
    bits = rg.integers(0, inf, 20000, dtype=itype)
    powers = np.ldexp(np.ones(1, dtype), np.arange(np.finfo(dtype).minexp - 30,
                                                   np.finfo(dtype).maxexp)).astype(dtype)
    powers = powers[powers > 0].view(itype)
    small = np.arange(0, 4096, dtype=itype)  # zero and the smallest subnormals
    bits = np.concatenate([bits, powers, powers + 1, powers - 1, small])
    fraction, bias = shift_scaler.FORMAT[np.dtype(dtype)]
    got = _exponents_from_bits(bits, fraction, bias)
    want = np.array([shift_scaler.exponent_of(float(v)) for v in bits.view(dtype)])
    np.testing.assert_array_equal(got, want)


@numba.njit(cache=False)
def _exponents_from_bits(bits, fraction, bias):
    out = np.empty(bits.shape[0], np.int64)
    for i in range(bits.shape[0]):
        out[i] = shift_scaler.exponent_of_bits(bits[i], fraction, bias)
    return out
