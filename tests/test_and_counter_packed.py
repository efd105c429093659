"""The packed fast-path accumulation (and_counter.accumulate_fast_any for BL <= 32: P = 64 // BL
outer products per 64-bit word) against a plain numpy reference and against accumulate_fast,
bit for bit (acc and every row's AND ones): random shapes, BLs, signs, shifts with runs of equal
left shift, right shifts mixed in, inactive outer products, a non-zero starting accumulator, K
not a multiple of P, and one vs two numba threads."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from reference_and_counter import reference_fast, uniform_signs

from essop_sim.numerics import and_counter


def streams(rg, K, n, m, bl):
    """Packed streams uint64 [K, 1, rows] (cycle t in bit t, bits past BL zero) and int8 sign
    masks [K, rows] (0 / -1), for BL <= 64; each row has its own one-density."""

    def side(rows):
        bits = rg.random((K, rows, bl)) < rg.random((K, rows, 1))
        pad = np.zeros((K, rows, 64), dtype=np.uint8)
        pad[:, :, :bl] = bits
        words = np.packbits(pad, axis=-1, bitorder="little").view(np.uint64)  # [K, rows, 1]
        return words.transpose(0, 2, 1).copy()

    X, D = side(n), side(m)
    Xs = -rg.integers(0, 2, (K, n)).astype(np.int8)
    Ds = -rg.integers(0, 2, (K, m)).astype(np.int8)
    return X, Xs, D, Ds


BLS = (1, 2, 3, 7, 8, 16, 21, 31, 32)


@pytest.fixture(autouse=True)
def always_pack(monkeypatch):
    """Pack whatever the row count (the shapes here are small: and_counter.packs would leave
    most of them to accumulate_fast)."""
    monkeypatch.setattr(and_counter, "PACK_MIN_ROW_SLOTS", 0)


def test_packing_rule():
    assert and_counter.PACK_MIN_ROW_SLOTS == 0  # the fixture
    and_counter.PACK_MIN_ROW_SLOTS = 256
    assert and_counter.packs(8, 32) and and_counter.packs(1, 4) and and_counter.packs(16, 64)
    assert not and_counter.packs(8, 16) and not and_counter.packs(32, 127)
    assert and_counter.packs(32, 128) and not and_counter.packs(33, 10**6)
CASES = [  # (K, n, m); the long ones have runs of four and more full groups of equal shift
    (1, 1, 1), (5, 3, 2), (70, 9, 6), (129, 17, 4), (33, 8, 9), (200, 5, 7), (13, 66, 10),
    (1100, 7, 5),
]


def shifts(rg, K):
    """lsh / rsh [K] with runs of equal left shift (few distinct values) and right shifts in
    about a fifth of the k (lsh 0 there, as shift_scaler produces)."""
    lsh = rg.integers(0, 4, K).astype(np.int64) * 3
    rsh = np.where(rg.random(K) < 0.2, rg.integers(1, 64, K), 0).astype(np.int64)
    lsh[rsh > 0] = 0
    return lsh, rsh


def x_signs(rg, Xs, signs):
    """x sign masks by kind: 'mixed' (random per element, as drawn), 'uniform' (each row all
    positive or all negative: the packed kernel's sign-free loops), 'some' (uniform rows with
    one mixed row in about ten: groups of both kinds)."""
    if signs == "mixed":
        return Xs
    rows = -rg.integers(0, 2, (Xs.shape[0], 1)).astype(np.int8)
    uniform = np.broadcast_to(rows, Xs.shape).copy()
    if signs == "uniform":
        return uniform
    return np.where(rg.random((Xs.shape[0], 1)) < 0.1, Xs, uniform).astype(np.int8)


@pytest.mark.parametrize("bl", BLS)
@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("signs", ["mixed", "uniform", "some"])
def test_packed_equals_reference_and_accumulate_fast(case, bl, signs):
    K, n, m = CASES[case]
    rg = np.random.default_rng(1000 * bl + case)
    X, Xs, D, Ds = streams(rg, K, n, m, bl)
    Xs = x_signs(rg, Xs, signs)
    lsh, rsh = shifts(rg, K)
    active = rg.random(K) >= 0.15
    want, ones = reference_fast(X, Xs, D, Ds, lsh, rsh, active)
    start = rg.integers(-1000, 1000, (m, n))  # the kernels add to what is there
    kblock, groups = and_counter.kernel_layout(n, m, 1)
    old = start.copy()
    inc_old = np.full(m, 5, dtype=np.int64)
    and_counter.accumulate_fast(X, Xs, uniform_signs(Xs), D, Ds, lsh, rsh, active,
                                old, inc_old, kblock, groups)
    np.testing.assert_array_equal(old - start, want)
    np.testing.assert_array_equal(inc_old - 5, ones)
    threads = numba.get_num_threads()
    try:
        for t in sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)}):
            numba.set_num_threads(t)
            acc = start.copy()
            inc = np.full(m, 5, dtype=np.int64)
            and_counter.accumulate_fast_any(X, Xs, uniform_signs(Xs), D, Ds, lsh,
                                            rsh, active, acc, inc, bl,
                                            kblock, min(t, m))
            np.testing.assert_array_equal(acc, old)
            np.testing.assert_array_equal(inc, inc_old)
    finally:
        numba.set_num_threads(threads)


def test_plan_groups_runs_of_equal_shift():
    lsh = np.array([2, 0, 2, 2, 0, 5, 2, 2, 0, 1], dtype=np.int64)
    rsh = np.array([0, 0, 0, 0, 0, 0, 0, 0, 3, 0], dtype=np.int64)
    active = np.ones(10, dtype=np.bool_)
    active[6] = False
    order, gstart, gshift, rest = and_counter.packed_plan(lsh, rsh, active, 2)
    # no right shift, active: k 1, 4 (lsh 0); 9 (1); 0, 2, 3, 7 (2); 5 (5)
    np.testing.assert_array_equal(order, [1, 4, 9, 0, 2, 3, 7, 5])
    np.testing.assert_array_equal(gstart, [0, 2, 3, 5, 7, 8])
    np.testing.assert_array_equal(gshift, [0, 1, 2, 2, 5])
    np.testing.assert_array_equal(rest, np.arange(10) == 8)
    order, gstart, gshift, rest = and_counter.packed_plan(lsh, rsh, np.zeros(10, np.bool_), 3)
    assert order.size == 0 and list(gstart) == [0] and gshift.size == 0 and not rest.any()


def _plan_by_argsort(lsh, rsh, active, slots):
    """The plan's definition in numpy: a stable argsort by lsh, then groups of up to `slots`
    within each run of equal lsh."""
    idx = np.flatnonzero(active & (rsh == 0))
    order = idx[np.argsort(lsh[idx], kind="stable")]
    gstart, gshift = [], []
    for p, k in enumerate(order):
        if p == 0 or lsh[k] != gshift[-1] or p - gstart[-1] == slots:
            gstart.append(p)
            gshift.append(lsh[k])
    return order, gstart + [order.size], gshift, active & (rsh > 0)


def test_plan_equals_a_stable_argsort_on_random_chunks():
    rg = np.random.default_rng(11)
    for _ in range(500):
        K = int(rg.integers(0, 50))
        slots = int(rg.integers(1, 65))
        lsh = rg.integers(0, int(rg.integers(1, 12)), K).astype(np.int64)
        rsh = np.where(rg.random(K) < 0.2, rg.integers(1, 5, K), 0).astype(np.int64)
        active = rg.random(K) < 0.8
        got = and_counter.packed_plan(lsh, rsh, active, slots)
        for a, b in zip(got, _plan_by_argsort(lsh, rsh, active, slots), strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("bl", (3, 32))
def test_pack_layout(bl):
    rg = np.random.default_rng(bl)
    K, n, m = 7, 4, 3
    X, Xs, D, Ds = streams(rg, K, n, m, bl)
    order = np.array([6, 2, 0, 5, 1], dtype=np.int64)
    gstart = np.array([0, 2, 3, 5], dtype=np.int64)
    Xp, NX = np.empty((3, n), np.uint64), np.empty((3, n), np.uint64)
    Dp, ND = np.empty((3, m), np.uint64), np.empty((3, m), np.uint64)
    and_counter.pack_groups(X, Xs, D, Ds, order, gstart, bl, Xp, NX, Dp, ND)
    ones = (1 << bl) - 1
    for g in range(3):
        for i in range(n):
            xw = nw = 0
            for s, k in enumerate(order[gstart[g]:gstart[g + 1]]):
                xw |= int(X[k, 0, i]) << (s * bl)
                nw |= (ones << (s * bl)) if Xs[k, i] else 0
            assert int(Xp[g, i]) == xw and int(NX[g, i]) == nw
    np.testing.assert_array_equal(Dp[1], D[0, 0])  # group 1 holds k = 0 alone
    np.testing.assert_array_equal(ND[1], np.where(Ds[0] != 0, ones, 0).astype(np.uint64))


@pytest.mark.parametrize(("bl", "granularity", "F"), [(3, "vector", 8), (8, "batch", 2),
                                                       (21, "vector", 1), (32, "batch", 16)])
def test_essop_outer_product_packed_equals_per_cycle_reference(bl, granularity, F):
    """End to end (essop_outer_product takes the packed path for these BL): raw, shifts and
    activity equal the per-cycle reference model's; operands span 2^-8 .. 2^4 per row so that
    the outer products have several distinct shifts (some right shifts when F is small)."""
    import dataclasses

    from reference_essop import reference_essop

    from essop_sim import HardwareConfig
    from essop_sim.datapaths.essop.numerics import essop_outer_product

    rg = np.random.default_rng(bl)
    K, n, m = 19, 5, 4
    x = rg.standard_normal((K, n)) * 2.0 ** rg.integers(-8, 4, (K, 1))
    d = rg.standard_normal((K, m)) * 2.0 ** rg.integers(-8, 4, (K, 1))
    x[3] = 0.0  # an inactive outer product
    e = HardwareConfig().essop
    e = dataclasses.replace(e, bitstream_length=bl, accumulator_fraction_bits=F,
                            scaling=dataclasses.replace(e.scaling, granularity=granularity))
    config = dataclasses.replace(HardwareConfig(), essop=e)
    ref = reference_essop(x, d, config, 5)
    got = essop_outer_product(x, d, config, 5, chunk=7)
    np.testing.assert_array_equal(got.raw, ref["raw"])
    for key, value in ref["activity"].items():
        assert got.activity[key] == value, key
