"""Outer products whose every step vanishes: their counter increments without the AND array.

An active outer product k with a right shift (rsh_k > 0, so lsh_k = 0) adds
sign * (c >> rsh_k) to accumulator cell (j, i), c being the cell's count, at most
cmax = min(BL, 2^cb - 1) (:mod:`.and_counter`). When 2^rsh_k > cmax that step is 0 for every
count: k changes no accumulator. It still counts, and the datapath's activity records its AND
ones as counter increments, sum over i, j of popcount(X_k[i] & D_k[j]) (per word of the
streams). That sum needs no n x m AND array:

    sum over i, j of popcount(x_i & d_j) = sum over t of colx[t] * cold[t]
                                         = sum over j, b of 2^b popcount(d_j & P_b),

colx[t] and cold[t] being the numbers of words x_i and d_j with bit t set and P_b the word of
bit b of every cold[t] (the counts bit-sliced: the m words added into B = bit length of m
planes by a ripple carry). So a word of k costs a few operations per d_j and B n ANDs and
popcounts instead of n m (ResNet-32's stage 3, n 576, m 64: 4032 against 36864), exactly. The
narrower side is the one sliced.

Gradient traces of a network that has learnt something hold many such outer products: per-sample
error magnitudes spread over orders of magnitude, and a sample far below the update's largest
product is right-shifted past its counts. In the shipped digits trace (F = 8), of a layer's
active k, none vanish at step 0, up to 42% at step 60 (6-42% at BL 8, 0-17% at BL 64, 0-7% at
BL 256) and 62-78% at step 439 (BL 8, 64 and 256; docs/performance.md).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from .and_counter import popcount64


def vanishing(active: np.ndarray, rsh: np.ndarray, cmax: int) -> np.ndarray:
    """bool [K]: the active k whose steps are 0 for every count c <= cmax, i.e. 2^rsh[k] > cmax
    (rsh[k] >= the bit length of cmax)."""
    return active & (rsh >= int(cmax).bit_length())


@nb.njit(cache=True, inline="always")
def _half_add(plane, carry):  # pragma: no cover - numba
    """One bit plane plus a carry word, bit by bit: (sum, carry out)."""
    return plane ^ carry, plane & carry


@nb.njit(cache=True, inline="always")
def _planes8(narrow, planes):  # pragma: no cover - numba
    """planes[b] = bit b of the column counts of ``narrow`` (fewer than 256 words), every word
    added into eight planes kept in registers by a chain of half adders."""
    p0 = p1 = p2 = p3 = p4 = p5 = p6 = p7 = np.uint64(0)
    for j in range(narrow.shape[0]):
        p0, c = _half_add(p0, narrow[j])
        p1, c = _half_add(p1, c)
        p2, c = _half_add(p2, c)
        p3, c = _half_add(p3, c)
        p4, c = _half_add(p4, c)
        p5, c = _half_add(p5, c)
        p6, c = _half_add(p6, c)
        p7 ^= c
    planes[0], planes[1], planes[2], planes[3] = p0, p1, p2, p3
    planes[4], planes[5], planes[6], planes[7] = p4, p5, p6, p7


@nb.njit(cache=True, inline="always")
def _sliced_ones(wide, narrow, planes, bits):  # pragma: no cover - numba
    """sum over i, j of popcount(wide[i] & narrow[j]) (uint64 words): the column counts of
    ``narrow`` bit-sliced into ``planes`` (uint64 [>= max(8, bits)]; overwritten), ``bits``
    the bit length of len(narrow), then every wide word popcounted against each plane,
    weighted 2^b (one vectorised pass over ``wide`` per plane)."""
    m = narrow.shape[0]
    if m < 256:
        _planes8(narrow, planes)
    else:  # ripple-carry adds into planes in memory
        for b in range(bits):
            planes[b] = 0
        for j in range(m):
            carry = narrow[j]
            b = 0
            while carry != 0:
                planes[b], carry = _half_add(planes[b], carry)
                b += 1
    total = 0
    for b in range(bits):
        plane = planes[b]
        ones = 0
        for i in range(wide.shape[0]):
            ones += popcount64(wide[i] & plane)
        total += ones << b
    return total


@nb.njit(parallel=True, cache=True)
def vanishing_ones(X, D, selected, tasks):  # pragma: no cover - numba
    """The AND ones (int64) of the outer products k with ``selected[k]``: sum over k, words wd,
    i, j of popcount(X[k, wd, i] & D[k, wd, j]) (X uint64 [K, W, n], D [K, W, m], the streams
    :func:`.comparator.streams_both` writes), computed bit-sliced (module docstring). The K
    outer products are split into ``tasks`` ranges; the total does not depend on the split."""
    K, W, n = X.shape
    m = D.shape[2]
    bits = 1  # bit length of the narrower side's word count
    while (1 << bits) <= min(n, m):
        bits += 1
    totals = np.zeros(tasks, dtype=np.int64)
    for tk in nb.prange(tasks):
        planes = np.empty(max(8, bits), dtype=np.uint64)
        total = 0
        for k in range(tk * K // tasks, (tk + 1) * K // tasks):
            if not selected[k]:
                continue
            for wd in range(W):
                wide, narrow = (X[k, wd], D[k, wd]) if n >= m else (D[k, wd], X[k, wd])
                total += _sliced_ones(wide, narrow, planes, bits)
        totals[tk] = total
    total = 0
    for tk in range(tasks):  # (not totals.sum(): its cached code needs numba's arraymath)
        total += totals[tk]
    return total
