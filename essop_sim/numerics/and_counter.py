"""AND array, coincidence counters and shift-accumulators (the ESSOP hot path).

For outer product k, cell (j, i) ANDs the packed streams D_k[j] and X_k[i] and counts the ones:
``c = sum over words of popcount(X_k[i] & D_k[j])`` (one AND gate evaluation per bit per cycle).
The counter is ``counter_bits`` wide: on overflow 'saturate' keeps min(c, 2^cb - 1), 'wrap' keeps
c mod 2^cb. The signed accumulator (``accumulator_bits`` A, ``accumulator_fraction_bits`` F) adds
the count shifted to the common exponent, ``v = (c << F) >> s_k`` (floor), with the product sign
``sign_x[k, i] XOR sign_d[k, j]``: ``acc += v`` or ``acc -= v``, in order k = 0, 1, ... Each step
saturates to [-2^(A-1), 2^(A-1) - 1] or wraps modulo 2^A (two's complement).

Kernels take ``lsh[k] = max(F - s_k, 0)`` and ``rsh[k] = min(max(s_k - F, 0), 63)``, so that
``v = (c << lsh) >> rsh`` equals ``(c << F) >> s_k`` (c << F < 2^61 because BL <= 2^20 and
F <= 40, so a right shift of 63 gives 0, as any s_k - F >= 63 does). ``active[k]`` is False when
x_k or delta_k is all zero: those outer products count nothing and are skipped.

Parallelism: ``prange`` over groups of rows j, each thread owning whole rows, k sequential per
cell, so results do not depend on the thread count or the grouping. Sign application is branch-free:
``acc += (v ^ s) - s`` with s = 0 or -1.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from numba import types
from numba.extending import intrinsic


@intrinsic
def popcount64(typingctx, x):
    """Population count of a uint64 (LLVM ctpop), returned as int64."""
    if x != types.uint64:
        return None
    sig = types.int64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return sig, codegen


@nb.njit(cache=True, inline="always")
def _row_range(g, groups, m):  # pragma: no cover - numba
    return g * m // groups, (g + 1) * m // groups


@nb.njit(cache=True, inline="always")
def _row_update(row, xk, d, sk, sd, ls, rs, n):  # pragma: no cover - numba
    """row[i] += sign * ((popcount(xk[i] & d) << ls) >> rs); returns the sum of the counts.

    The delta sign sd and the shift direction are uniform over the row, so they select one of
    four loops (one shift, and + or -) instead of costing work per element."""
    tot = 0
    if sd == 0:
        if rs == 0:
            for i in range(n):
                c = popcount64(xk[i] & d)
                tot += c
                v = c << ls
                sg = np.int64(sk[i])
                row[i] += (v ^ sg) - sg
        else:
            for i in range(n):
                c = popcount64(xk[i] & d)
                tot += c
                v = c >> rs
                sg = np.int64(sk[i])
                row[i] += (v ^ sg) - sg
    else:
        if rs == 0:
            for i in range(n):
                c = popcount64(xk[i] & d)
                tot += c
                v = c << ls
                sg = np.int64(sk[i])
                row[i] -= (v ^ sg) - sg
        else:
            for i in range(n):
                c = popcount64(xk[i] & d)
                tot += c
                v = c >> rs
                sg = np.int64(sk[i])
                row[i] -= (v ^ sg) - sg
    return tot


@nb.njit(cache=True, inline="always")
def _row_update_counts(row, cnt, sk, sd, ls, rs, n):  # pragma: no cover - numba
    """As :func:`_row_update` for precomputed multi-word counts cnt[i]."""
    tot = 0
    for i in range(n):
        c = cnt[i]
        tot += c
        v = (c << ls) >> rs
        sg = np.int64(sk[i]) ^ sd
        row[i] += (v ^ sg) - sg
    return tot


@nb.njit(parallel=True, cache=True)
def accumulate_fast(X, xs, D, ds, lsh, rsh, active, acc, inc, kblock,
                    groups):  # pragma: no cover - numba
    """Accumulate a chunk of outer products when no counter and no accumulator step can overflow.

    X uint64 [K, W, n], xs int8 [K, n] sign masks (0 or -1), D uint64 [K, W, m], ds int8 [K, m],
    lsh/rsh int64 [K], active bool [K]; acc int64 [m, n] is updated in place; inc int64 [m]
    gets each row's AND ones (counter increments) added. Rows are split into ``groups``
    contiguous ranges, one per thread (one parallel region per call); each thread walks the
    chunk in blocks of ``kblock`` outer products (sized to stay in its L2 cache) and applies a
    block to all its rows before the next.
    """
    K, W, n = X.shape
    m = acc.shape[0]
    for g in nb.prange(groups):
        j0, j1 = _row_range(g, groups, m)
        cnt = np.zeros(n, dtype=np.int64)
        for b0 in range(0, K, kblock):
            b1 = min(K, b0 + kblock)
            for j in range(j0, j1):
                row = acc[j]
                tot = 0
                for k in range(b0, b1):
                    if not active[k]:
                        continue
                    sd = np.int64(ds[k, j])
                    ls = lsh[k]
                    rs = rsh[k]
                    sk = xs[k]
                    if W == 1:
                        d = D[k, 0, j]
                        tot += _row_update(row, X[k, 0], d, sk, sd, ls, rs, n)
                    else:
                        d = D[k, 0, j]
                        xk = X[k, 0]
                        for i in range(n):
                            cnt[i] = popcount64(xk[i] & d)
                        for wd in range(1, W):
                            d = D[k, wd, j]
                            xk = X[k, wd]
                            for i in range(n):
                                cnt[i] += popcount64(xk[i] & d)
                        tot += _row_update_counts(row, cnt, sk, sd, ls, rs, n)
                inc[j] += tot


@nb.njit(parallel=True, cache=True)
def accumulate_checked(X, xs, D, ds, lsh, rsh, active, acc, counter_max, saturate,
                       acc_bits, inc, covf, asat, kblock, groups):  # pragma: no cover - numba
    """As :func:`accumulate_fast`, with counter overflow and per-step accumulator range checks.

    counter_max = 2^counter_bits - 1; saturate selects clamping (True) or two's-complement wrap
    (False) for both counter and accumulator; acc_bits = A. covf[j] counts counters of row j
    that overflowed, asat[j] accumulator steps that left [-2^(A-1), 2^(A-1) - 1].
    """
    K, W, n = X.shape
    m = acc.shape[0]
    hi = (np.int64(1) << (acc_bits - 1)) - 1
    lo = -hi - 1
    up = 64 - acc_bits
    for g in nb.prange(groups):
        j0, j1 = _row_range(g, groups, m)
        for b0 in range(0, K, kblock):
            b1 = min(K, b0 + kblock)
            for j in range(j0, j1):
                row = acc[j]
                tot = 0
                nov = 0
                nsat = 0
                for k in range(b0, b1):
                    if not active[k]:
                        continue
                    sd = np.int64(ds[k, j])
                    ls = lsh[k]
                    rs = rsh[k]
                    sk = xs[k]
                    for i in range(n):
                        c = 0
                        for wd in range(W):
                            c += popcount64(X[k, wd, i] & D[k, wd, j])
                        tot += c
                        if c > counter_max:
                            nov += 1
                            c = counter_max if saturate else c & counter_max
                        v = (c << ls) >> rs
                        sg = np.int64(sk[i]) ^ sd
                        a = row[i] + ((v ^ sg) - sg)
                        if a > hi or a < lo:
                            nsat += 1
                            # saturate: clamp; wrap: keep the low A bits, sign-extended
                            a = (hi if a > hi else lo) if saturate else (a << up) >> up
                        row[i] = a
                inc[j] += tot
                covf[j] += nov
                asat[j] += nsat


@nb.njit(cache=True)
def masked_ones(X, D, active, cols):  # pragma: no cover - numba
    """AND ones (counter increments) of the connected cells only: the sum over active k, rows
    j and their connected inputs i = cols[j, f] of popcount(X[k, :, i] & D[k, :, j]) (a masked
    ESSOP counts these instead of every cell's, docs/edge.md)."""
    K, W, _n = X.shape
    m, d = cols.shape
    tot = 0
    for k in range(K):
        if not active[k]:
            continue
        for j in range(m):
            for f in range(d):
                i = cols[j, f]
                for wd in range(W):
                    tot += popcount64(X[k, wd, i] & D[k, wd, j])
    return tot


@nb.njit(parallel=True, cache=True)
def popcount_roofline(X, D, acc, kblock, groups):  # pragma: no cover - numba
    """Plain popcount roofline: ``acc[j, i] += popcount(X[k, w, i] & D[k, w, j])``.

    The same loop shape (row groups, k blocks) and data as :func:`accumulate_fast`, without
    sign, shift, activity counting or saturation. scripts/bench_kernels.py measures both.
    """
    K, W, n = X.shape
    m = acc.shape[0]
    for g in nb.prange(groups):
        j0, j1 = _row_range(g, groups, m)
        for b0 in range(0, K, kblock):
            b1 = min(K, b0 + kblock)
            for j in range(j0, j1):
                row = acc[j]
                for k in range(b0, b1):
                    for wd in range(W):
                        d = D[k, wd, j]
                        xk = X[k, wd]
                        for i in range(n):
                            row[i] += popcount64(xk[i] & d)


def kernel_layout(n: int, m: int, words: int, cache_bytes: int = 256 << 10) -> tuple[int, int]:
    """(kblock, groups) for the accumulation kernels: k-block whose packed x streams and signs
    fit ``cache_bytes`` (per-core L2), and one row group per numba thread (at most m)."""
    kblock = max(1, cache_bytes // (n * (8 * words + 1)))
    return int(kblock), int(max(1, min(nb.get_num_threads(), m)))


@nb.njit(cache=True)
def max_abs_int(a):  # pragma: no cover - numba
    """max |a| over an int64 array (0 for an empty one)."""
    mx = 0
    for v in a.ravel():
        av = -v if v < 0 else v
        if av > mx:
            mx = av
    return mx
