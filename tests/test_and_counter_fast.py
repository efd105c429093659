"""accumulate_fast (the fast-path accumulation for any BL: rows two at a time, and no
per-element sign for outer products whose x signs are uniform) against a plain numpy model, bit
for bit (acc and every row's AND ones): random shapes with odd and even row counts, 1-5 words
per stream, outer products whose x signs are all positive, all negative or mixed, left and right
shifts, inactive outer products, every row grouping, one and two numba threads."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from reference_and_counter import reference_fast, uniform_signs

from essop_sim.numerics import and_counter


def random_chunk(rg, K, n, m, W):
    X = rg.integers(0, 2**63, (K, W, n), dtype=np.uint64) & rg.integers(0, 2**63, (K, W, n),
                                                                        dtype=np.uint64)
    D = rg.integers(0, 2**63, (K, W, m), dtype=np.uint64)
    kind = rg.integers(0, 3, K)  # x signs of outer product k: all +, all -, mixed
    Xs = np.where(kind[:, None] == 0, 0, -1).astype(np.int8) * np.ones((K, n), np.int8)
    mixed = kind == 2
    Xs[mixed] = -rg.integers(0, 2, (int(mixed.sum()), n)).astype(np.int8)
    Ds = -rg.integers(0, 2, (K, m)).astype(np.int8)
    lsh = rg.integers(0, 12, K).astype(np.int64)
    rsh = np.where(rg.random(K) < 0.3, rg.integers(1, 64, K), 0).astype(np.int64)
    lsh[rsh > 0] = 0
    return X, Xs, D, Ds, lsh, rsh, rg.random(K) >= 0.1


def test_uniform_sign():
    from essop_sim.numerics import comparator

    xs = np.array([[0, 0, 0], [-1, -1, -1], [0, -1, 0], [-1, 0, 0]], dtype=np.int8)
    np.testing.assert_array_equal([comparator.uniform_sign(row) for row in xs], [0, -1, 1, 1])
    np.testing.assert_array_equal(uniform_signs(xs), [0, -1, 1, 1])  # the tests' numpy model
    assert comparator.uniform_sign(np.zeros(0, np.int8)) == 0
    assert uniform_signs(np.zeros((3, 0), np.int8)).tolist() == [0, 0, 0]


@pytest.mark.parametrize("W", [1, 2, 3, 4, 5])  # 2 and 4 words have loops of their own
@pytest.mark.parametrize("case", range(6))
def test_accumulate_fast_equals_reference(case, W):
    rg = np.random.default_rng(500 + 10 * case + W)
    K = int(rg.integers(1, 60))
    n = int(rg.integers(1, 40))
    m = int(rg.integers(1, 12))
    X, Xs, D, Ds, lsh, rsh, active = random_chunk(rg, K, n, m, W)
    want, ones = reference_fast(X, Xs, D, Ds, lsh, rsh, active)
    xu = uniform_signs(Xs)
    assert set(xu.tolist()) <= {0, -1, 1}
    start = rg.integers(-1000, 1000, (m, n))  # the kernel adds to what is there
    threads = numba.get_num_threads()
    try:
        for t in sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)}):
            numba.set_num_threads(t)
            for groups in sorted({1, min(t, m), m}):
                kblock = int(rg.integers(1, K + 2))
                acc = start.copy()
                inc = np.full(m, 5, dtype=np.int64)
                and_counter.accumulate_fast(X, Xs, xu, D, Ds, lsh, rsh, active, acc, inc,
                                            kblock, groups)
                np.testing.assert_array_equal(acc - start, want)
                np.testing.assert_array_equal(inc - 5, ones)
    finally:
        numba.set_num_threads(threads)


@pytest.mark.parametrize("exponent", [-1080, -1074, -1060, -1022, -40, 0, 3, 990, 1023, 1030])
@pytest.mark.parametrize("bl", [1, 3, 64, 63, 130])
def test_readout_equals_numpy_float64_steps(exponent, bl):
    """dw = ldexp(float64(acc), e) / bl and update = -eta * dw, as numpy computes them, bit for
    bit (also where they are subnormal, overflow or underflow; acc beyond 2^53 rounds)."""
    rg = np.random.default_rng(abs(exponent) + bl)
    acc = rg.integers(-(2**62), 2**62, (7, 9)) >> rg.integers(0, 62, (7, 9))
    acc[0, :3] = [0, 1, -1]
    eta = float(rg.random())
    dw, update = and_counter.readout(acc, exponent, bl, eta)
    with np.errstate(over="ignore", under="ignore"):
        want = np.ldexp(acc.astype(np.float64), exponent) / bl
        want_update = -eta * want
    np.testing.assert_array_equal(dw.view(np.int64), want.view(np.int64))
    np.testing.assert_array_equal(update.view(np.int64), want_update.view(np.int64))


@pytest.mark.parametrize("mode", ["mask", "table", "direct", "element"])
def test_streams_report_uniform_x_signs(mode):
    """streams_both's Xu[k] is the uniform sign of the sign masks it writes (all positive, all
    negative, mixed; -0.0 and zeros count as positive), whatever the stream construction."""
    from essop_sim.numerics import comparator
    from essop_sim.numerics.lfsr import RngBanks

    rg = np.random.default_rng(7)
    K, n, m, bl, w = 12, 9, 4, 70, 8
    x = rg.standard_normal((K, n))
    x[0] = np.abs(x[0])
    x[1] = -np.abs(x[1])
    x[2] = 0.0
    x[3] = -0.0
    x[4] = np.abs(x[4])
    x[4, :4] = -0.0
    d = rg.standard_normal((K, m))
    ex = np.full(K, 3, dtype=np.int64)
    ed = np.full(K, 3, dtype=np.int64)
    per_element = mode == "element"
    modes = [comparator.stream_mode("auto" if per_element else mode, per_element, size, w, bl)
             for size in (n, m)]
    R = [RngBanks("lfsr", side, size if per_element else 1, w, 1).take(K * bl + 63)
         for side, size in (("x", n), ("delta", m))]
    words = (bl + 63) // 64
    X, D = np.empty((K, words, n), np.uint64), np.empty((K, words, m), np.uint64)
    Xs, Ds = np.empty((K, n), np.int8), np.empty((K, m), np.int8)
    Xu = np.full(K, 99, dtype=np.int8)
    comparator.streams_both(x, ex, R[0], modes[0], X, Xs, Xu, d, ed, R[1], modes[1], D, Ds, bl,
                            bl, w, 3)
    np.testing.assert_array_equal(Xu, uniform_signs(Xs))
    assert Xu[:5].tolist() == [0, -1, 0, 0, 0] and set(Xu.tolist()) <= {0, -1, 1}
