"""Comparators: quantise scaled magnitudes and compare them with random numbers -> packed streams.

Quantisation (w = comparator_bits): q = floor(u * 2^w + 1/2) clipped to [0, 2^w], with
u = |v| * 2^-e the shift-scaled magnitude. The comparator's magnitude register is therefore
w + 1 bits wide (q = 2^w, i.e. u = 1, gives an always-one stream). The rounding is computed
exactly as ``floor(y) + (y - floor(y) >= 1/2)`` with y = |v| * 2^(w - e) (an exact power-of-two
scaling), which avoids the double rounding of evaluating y + 0.5 in floating point.

Stream bit t (cycle t, 0 <= t < BL) is 1 iff r_t < q, r_t being the t-th w-bit random number the
element's bank supplies for this outer product. Streams are packed LSB first: bit t is bit
(t mod 64) of uint64 word t // 64; bits past BL in the last word are zero. Kernels write words as
[K, W, n] (W = ceil(BL / 64) words) so that the AND kernels read each word plane contiguously.

Signs are sign-magnitude: sign bit = (v < 0), so -0.0 is positive; kernels store it as an int8
mask, 0 (positive) or -1 (negative), for branch-free sign application downstream.

Two ways to build the streams of a vector that shares one random sequence (they give identical
words; tests hold them equal): 'table' buckets the BL numbers by value and prefix-ORs the buckets
so that ``table[q]`` is the packed stream of magnitude q for every q in 0..2^w, then looks each
element up; 'direct' compares every element with every number. 'auto' picks the table when its
cost (zeroing and prefix-ORing (2^w + 1) * W words) is below that of the n * BL comparisons.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np


@nb.njit(cache=True, inline="always")
def quantize_row(a_row, e, w, q_out, sign_out):  # pragma: no cover - numba
    """q_out[i] = round-half-up(|a_row[i]| * 2^(w - e)) clipped to [0, 2^w]; sign masks 0/-1.

    q_out is int32 (q <= 2^24), so the loops vectorise; sign_out is int8.
    """
    qmax = np.int32(1 << w)
    sh = w - e
    n = a_row.shape[0]
    for i in range(n):
        sign_out[i] = -np.int8(a_row[i] < 0)  # -0.0 < 0 is False: positive
    if -1022 <= sh <= 1023:
        scale = math.ldexp(1.0, sh)
        for i in range(n):
            y = abs(np.float64(a_row[i])) * scale  # exact power-of-two scaling, y <= 2^w
            fl = np.int32(y)
            q_out[i] = min(fl + np.int32(y - fl >= 0.5), qmax)
    else:  # 2^sh is not a normal double: scale each element (underflow only gives q = 0)
        for i in range(n):
            y = math.ldexp(abs(np.float64(a_row[i])), sh)
            fl = np.int32(y)
            q_out[i] = min(fl + np.int32(y - fl >= 0.5), qmax)


@nb.njit(cache=True)
def quantize(a, e, w):  # pragma: no cover - numba
    """Quantised magnitudes q int32 [K, n] and sign masks int8 [K, n] of a [K, n], exps e [K]."""
    K, n = a.shape
    q = np.empty((K, n), dtype=np.int32)
    s = np.empty((K, n), dtype=np.int8)
    for k in range(K):
        quantize_row(a[k], e[k], w, q[k], s[k])
    return q, s


@nb.njit(cache=True, inline="always")
def _direct_words(q, R, col, off, BL, words_k):  # pragma: no cover - numba
    """words_k [W, n] = packed (R[off + t, col] < q[i]) for t < BL (col = 0: one shared bank,
    col = -1: element i reads column i). The inner loop runs over elements, so it vectorises."""
    W, n = words_k.shape
    for wd in range(W):
        row = words_k[wd]
        for i in range(n):
            row[i] = 0
        t0 = wd * 64
        nbits = min(64, BL - t0)
        for b in range(nbits):
            bit = np.uint64(b)
            if col >= 0:
                rt = np.int32(R[off + t0 + b, col])
                for i in range(n):
                    row[i] |= np.uint64(rt < q[i]) << bit
            else:
                rr = R[off + t0 + b]
                for i in range(n):
                    row[i] |= np.uint64(np.int32(rr[i]) < q[i]) << bit


@nb.njit(cache=True, inline="always")
def _vector_streams(a_row, e, R, off, BL, w, mode, words_k, signs_k):  # pragma: no cover
    """Quantise one vector and write its packed streams words_k [W, n] and signs_k [n].

    mode 0: shared sequence R[off + t, 0], lookup table; 1: shared sequence, direct compares;
    2: element i reads its own sequence R[off + t, i] (direct compares).
    """
    n = a_row.shape[0]
    W = words_k.shape[0]
    q = np.empty(n, dtype=np.int32)
    quantize_row(a_row, e, w, q, signs_k)
    if mode == 0:
        qmax = 1 << w
        tab = np.zeros((W, qmax + 1), dtype=np.uint64)
        for t in range(BL):  # bucket: value v's cycles go to tab[., v + 1]
            tab[t >> 6, np.int64(R[off + t, 0]) + 1] |= np.uint64(1) << np.uint64(t & 63)
        for wd in range(W):
            tw = tab[wd]
            run = np.uint64(0)
            for v in range(1, qmax + 1):  # prefix OR: tab[., q] = cycles with r_t < q
                run |= tw[v]
                tw[v] = run
            out = words_k[wd]
            for i in range(n):
                out[i] = tw[q[i]]
    else:
        _direct_words(q, R, 0 if mode == 1 else -1, off, BL, words_k)


@nb.njit(parallel=True, cache=True)
def streams_both(xa, ex, Rx, mode_x, X, Xs, da, ed, Rd, mode_d, D, Ds, stride, BL,
                 w):  # pragma: no cover - numba
    """Streams of x and delta for a chunk of K outer products, in one parallel region.

    xa [K, n], da [K, m] operands (float); ex, ed [K] int64 exponents; Rx, Rd uint32 [N, banks]
    random numbers, outer product k using rows k*stride .. k*stride + BL - 1 (stride = BL for
    'continue', 0 for 'restart'); mode_x, mode_d as in :func:`_vector_streams`. Writes words
    X uint64 [K, W, n], D [K, W, m] and sign masks Xs int8 [K, n], Ds [K, m].
    """
    K = xa.shape[0]
    for k in nb.prange(K):
        _vector_streams(xa[k], ex[k], Rx, k * stride, BL, w, mode_x, X[k], Xs[k])
        _vector_streams(da[k], ed[k], Rd, k * stride, BL, w, mode_d, D[k], Ds[k])


@nb.njit(parallel=True, cache=True)
def streams_shared(a, e, R, stride, BL, w, use_table, words, signs):  # pragma: no cover - numba
    """Streams of K vectors that each share one random sequence (sharing 'vector').

    a [K, n] float operands; e [K] int64 scale exponents; R uint32 [N, 1] the bank's numbers,
    outer product k using R[k*stride : k*stride + BL, 0] (stride = BL for 'continue', 0 for
    'restart'); writes words uint64 [K, W, n] and sign masks int8 [K, n].
    """
    K = a.shape[0]
    mode = 0 if use_table else 1
    for k in nb.prange(K):
        _vector_streams(a[k], e[k], R, k * stride, BL, w, mode, words[k], signs[k])


@nb.njit(parallel=True, cache=True)
def streams_element(a, e, R, stride, BL, w, words, signs):  # pragma: no cover - numba
    """Streams when every element has its own bank (sharing 'element').

    R uint32 [N, n]: element i compares with R[k*stride + t, i]. Other arguments as in
    :func:`streams_shared`.
    """
    K = a.shape[0]
    for k in nb.prange(K):
        _vector_streams(a[k], e[k], R, k * stride, BL, w, 2, words[k], signs[k])


def stream_mode(method: str, per_element: bool, n: int, width: int, bl: int) -> int:
    """Mode of :func:`streams_both` for one side: 2 for element sharing, else table (0) or
    direct (1) by :func:`use_table`."""
    if per_element:
        return 2
    return 0 if use_table(method, n, width, bl) else 1


def use_table(method: str, n: int, width: int, bl: int) -> bool:
    """Whether the shared-sequence streams use the lookup table ('table', 'direct' or 'auto')."""
    if method == "table":
        return True
    if method == "direct":
        return False
    words = (bl + 63) // 64
    table_words = ((1 << width) + 1) * words
    # Measured (AMD EPYC, w = 8): a table costs about as much as 2/3 of a comparison per
    # element and cycle, per table word and per zeroing + prefix-OR pass over it.
    return table_words <= 1 << 16 and 2 * table_words + bl <= (2 * n * bl) // 3
