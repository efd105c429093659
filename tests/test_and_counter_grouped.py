"""The grouped fast-path accumulation (and_counter.accumulate_fast_grouped) against a plain
numpy reference and against accumulate_fast: random shapes, BLs, signs, shifts (incl. right
shifts), inactive outer products, and one vs two numba threads."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from essop_sim.numerics import and_counter


def streams(rg, K, n, m, bl):
    """Packed streams [K, W, rows] with bits past BL zero, and int8 sign masks (0 / -1)."""
    W = (bl + 63) // 64

    def side(rows):
        bits = rg.random((K, rows, bl)) < rg.random((K, rows, 1))
        pad = np.zeros((K, rows, W * 64), dtype=np.uint8)
        pad[:, :, :bl] = bits
        words = np.packbits(pad.reshape(K, rows, W, 64), axis=-1, bitorder="little")
        return words.view(np.uint64)[..., 0].transpose(0, 2, 1).copy()

    X, D = side(n), side(m)
    Xs = -rg.integers(0, 2, (K, n)).astype(np.int8)
    Ds = -rg.integers(0, 2, (K, m)).astype(np.int8)
    return X, Xs, D, Ds


def reference(X, Xs, D, Ds, lsh, rsh, active):
    """Python/numpy model of the fast path: acc[j, i] = sum over active k of
    sign * ((c << lsh) >> rsh), c = popcount(X[k, :, i] & D[k, :, j]); and the total AND ones."""
    K, _, n = X.shape
    m = D.shape[2]
    acc = np.zeros((m, n), dtype=np.int64)
    ones = 0
    for k in range(K):
        if not active[k]:
            continue
        t = X[k][:, None, :] & D[k][:, :, None]          # [W, m, n]
        c = np.unpackbits(t.view(np.uint8), axis=None).reshape(t.shape + (64,)).sum(
            axis=(0, 3)).astype(np.int64)               # [m, n]
        ones += int(c.sum())
        v = (c << lsh[k]) >> rsh[k]
        neg = (Xs[k][None, :] != Ds[k][:, None])
        acc += np.where(neg, -v, v)
    return acc, ones


CASES = [  # (K, n, m, BL)
    (1, 1, 1, 1), (7, 3, 5, 8), (40, 9, 6, 63), (33, 17, 4, 64), (25, 8, 9, 65),
    (30, 5, 7, 127), (20, 6, 3, 128), (9, 4, 5, 300), (50, 27, 16, 12), (16, 66, 10, 64),
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_grouped_equals_reference_and_accumulate_fast(case):
    K, n, m, bl = CASES[case]
    rg = np.random.default_rng(100 + case)
    X, Xs, D, Ds = streams(rg, K, n, m, bl)
    W = X.shape[1]
    lsh = rg.integers(0, 9, K).astype(np.int64)
    rsh = np.where(rg.random(K) < 0.25, rg.integers(1, 64, K), 0).astype(np.int64)
    lsh[rsh > 0] = 0
    active = rg.random(K) >= 0.15
    want, ones = reference(X, Xs, D, Ds, lsh, rsh, active)
    start = rg.integers(-1000, 1000, (m, n))  # the kernels add to what is there
    kblock, groups = and_counter.kernel_layout(n, m, W)
    old = start.copy()
    inc_old = np.zeros(m, dtype=np.int64)
    and_counter.accumulate_fast(X, Xs, D, Ds, lsh, rsh, active, old, inc_old, kblock, groups)
    threads = numba.get_num_threads()
    results = []
    try:
        for t in sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)}):
            numba.set_num_threads(t)
            work = and_counter.FastWorkspace(K, W, n, m)
            acc = start.copy()
            inc = np.zeros(m, dtype=np.int64)
            and_counter.accumulate_fast_grouped(X, Xs, D, Ds, lsh, rsh, active, acc, inc,
                                                work, groups, kblock)
            results.append((acc, int(inc.sum())))
    finally:
        numba.set_num_threads(threads)
    np.testing.assert_array_equal(old - start, want)
    assert inc_old.sum() == ones
    for acc, total in results:
        np.testing.assert_array_equal(acc - start, want)
        assert total == ones


def test_small_kernel_blocks_and_column_tasks_do_not_change_results():
    rg = np.random.default_rng(7)
    K, n, m, bl = 200, 13, 9, 64
    X, Xs, D, Ds = streams(rg, K, n, m, bl)
    lsh = rg.integers(0, 4, K).astype(np.int64)
    rsh = np.zeros(K, dtype=np.int64)
    active = np.ones(K, dtype=np.bool_)
    want, ones = reference(X, Xs, D, Ds, lsh, rsh, active)
    order, seg, shift, rest = and_counter.group_plan(lsh, rsh, active)
    assert not rest.any() and seg[0] == 0 and seg[-1] == K
    assert np.all(np.diff(shift) > 0) and sorted(order) == list(range(K))
    work = and_counter.FastWorkspace(K, 1, n, m)
    XT, SXT, DT, SDT = work.views(K)
    and_counter.to_k_contiguous(X, Xs, D, Ds, order, XT, SXT, DT, SDT)
    np.testing.assert_array_equal(XT, X[order, 0, :].T)
    np.testing.assert_array_equal(SDT, Ds[order].T)
    for kblock, icols in ((1, 1), (3, 2), (64, 5), (4096, 13)):
        acc = np.zeros((m, n), dtype=np.int64)
        inc = np.zeros(m, dtype=np.int64)
        and_counter.accumulate_grouped(XT, SXT, DT, SDT, 1, seg, shift, acc, inc, kblock, icols)
        np.testing.assert_array_equal(acc, want)
        assert inc.sum() == ones


def test_cache_sizes_and_layout_are_sane():
    sizes = and_counter.cache_sizes()
    assert sizes[1] >= 4 << 10 and sizes[2] >= sizes[1]
    kblock, icols = and_counter.grouped_layout(576, 64)
    assert kblock >= 64 and kblock % 64 == 0 and icols == 64
    assert and_counter.grouped_layout(27, 16)[1] == 27
