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

Signs are sign-magnitude: sign bit = (v < 0), so -0.0 is positive; kernels store it as an int64
mask, 0 (positive) or -1 (negative), for branch-free sign application downstream.

Two ways to build the streams of a vector that shares one random sequence (they give identical
words; tests hold them equal): 'table' buckets the BL numbers by value and prefix-ORs the buckets
so that ``table[q]`` is the packed stream of magnitude q for every q in 0..2^w, then looks each
element up; 'direct' compares every element with every number. 'auto' picks the table when its
cost ((2^w + 1) * W prefix-ORs) is small beside the direct comparisons (n * BL).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np


@nb.njit(cache=True, inline="always")
def quantize_row(a_row, e, w, q_out, sign_out):  # pragma: no cover - numba
    """q_out[i] = round-half-up(|a_row[i]| * 2^(w - e)) clipped to [0, 2^w]; sign masks 0/-1."""
    qmax = 1 << w
    sh = w - e
    n = a_row.shape[0]
    if -1022 <= sh <= 1023:
        scale = math.ldexp(1.0, sh)
        for i in range(n):
            v = np.float64(a_row[i])
            sign_out[i] = -1 if v < 0.0 else 0
            y = abs(v) * scale  # exact: a power-of-two scaling, y <= 2^w (underflow -> q = 0)
            fl = np.int64(y)
            q = fl + (1 if y - fl >= 0.5 else 0)
            q_out[i] = q if q < qmax else qmax
    else:
        for i in range(n):
            v = np.float64(a_row[i])
            sign_out[i] = -1 if v < 0.0 else 0
            y = math.ldexp(abs(v), sh)
            fl = np.int64(y)
            q = fl + (1 if y - fl >= 0.5 else 0)
            q_out[i] = q if q < qmax else qmax


@nb.njit(cache=True)
def quantize(a, e, w):  # pragma: no cover - numba
    """Quantised magnitudes q int64 [K, n] and sign masks int64 [K, n] of a [K, n], exps e [K]."""
    K, n = a.shape
    q = np.empty((K, n), dtype=np.int64)
    s = np.empty((K, n), dtype=np.int64)
    for k in range(K):
        quantize_row(a[k], e[k], w, q[k], s[k])
    return q, s


@nb.njit(cache=True, inline="always")
def _direct_words(q, r, off, BL, words_k, n):  # pragma: no cover - numba
    W = words_k.shape[0]
    for wd in range(W):
        t0 = wd * 64
        nbits = min(64, BL - t0)
        for i in range(n):
            qi = q[i]
            word = np.uint64(0)
            for b in range(nbits):
                if np.int64(r[off + t0 + b]) < qi:
                    word |= np.uint64(1) << np.uint64(b)
            words_k[wd, i] = word


@nb.njit(parallel=True, cache=True)
def streams_shared(a, e, R, stride, BL, w, use_table, words, signs):  # pragma: no cover - numba
    """Streams of K vectors that each share one random sequence (sharing 'vector').

    a [K, n] float operands; e [K] int64 scale exponents; R uint32 [1, N] the bank's numbers,
    outer product k using R[0, k*stride : k*stride + BL] (stride = BL for 'continue', 0 for
    'restart'); writes words uint64 [K, W, n] and sign masks int64 [K, n].
    """
    K, n = a.shape
    W = words.shape[1]
    qmax = 1 << w
    for k in nb.prange(K):
        q = np.empty(n, dtype=np.int64)
        quantize_row(a[k], e[k], w, q, signs[k])
        off = k * stride
        r = R[0]
        if use_table:
            tab = np.zeros((qmax + 1, W), dtype=np.uint64)
            for t in range(BL):  # bucket: value v's cycles go to tab[v + 1]
                tab[np.int64(r[off + t]) + 1, t >> 6] |= np.uint64(1) << np.uint64(t & 63)
            for v in range(1, qmax + 1):  # prefix OR: tab[q] = cycles with r_t < q
                for wd in range(W):
                    tab[v, wd] |= tab[v - 1, wd]
            for wd in range(W):
                for i in range(n):
                    words[k, wd, i] = tab[q[i], wd]
        else:
            _direct_words(q, r, off, BL, words[k], n)


@nb.njit(parallel=True, cache=True)
def streams_element(a, e, R, stride, BL, w, words, signs):  # pragma: no cover - numba
    """Streams when every element has its own bank (sharing 'element').

    R uint32 [n, N]: element i compares with R[i, k*stride + t]. Other arguments as in
    :func:`streams_shared`.
    """
    K, n = a.shape
    W = words.shape[1]
    for k in nb.prange(K):
        q = np.empty(n, dtype=np.int64)
        quantize_row(a[k], e[k], w, q, signs[k])
        off = k * stride
        for wd in range(W):
            t0 = wd * 64
            nbits = min(64, BL - t0)
            for i in range(n):
                qi = q[i]
                word = np.uint64(0)
                for b in range(nbits):
                    if np.int64(R[i, off + t0 + b]) < qi:
                        word |= np.uint64(1) << np.uint64(b)
                words[k, wd, i] = word


def use_table(method: str, n: int, width: int, bl: int) -> bool:
    """Whether the shared-sequence streams use the lookup table ('table', 'direct' or 'auto')."""
    if method == "table":
        return True
    if method == "direct":
        return False
    words = (bl + 63) // 64
    return 2 * ((1 << width) + 1) * words + bl <= n * bl // 4
