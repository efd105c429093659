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

import math

import numba as nb
import numpy as np
from numba import types
from numba.extending import intrinsic

from .threads import for_threads, threads_in_effect


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
def _pair_words(r0, r1, xk, d0, d1, g0, g1, ls, rs, n):  # pragma: no cover - numba
    """Rows j and j + 1 of one single-word outer product whose x signs are uniform:
    r[i] += sign * ((popcount(xk[i] & d) << ls) >> rs), sign given as the mask g (0: +,
    -1: -) of each row, applied branch-free as (v ^ g) - g. Each x word is loaded once for
    both rows. Returns the two rows' AND ones. One loop per shift direction: a loop that applies
    both shifts measured 10-13% slower (W = 1, three layer shapes, three interleaved rounds)."""
    t0 = 0
    t1 = 0
    if rs == 0:
        for i in range(n):
            x = xk[i]
            c0 = popcount64(x & d0)
            c1 = popcount64(x & d1)
            t0 += c0
            t1 += c1
            r0[i] += ((c0 << ls) ^ g0) - g0
            r1[i] += ((c1 << ls) ^ g1) - g1
    else:
        for i in range(n):
            x = xk[i]
            c0 = popcount64(x & d0)
            c1 = popcount64(x & d1)
            t0 += c0
            t1 += c1
            r0[i] += ((c0 >> rs) ^ g0) - g0
            r1[i] += ((c1 >> rs) ^ g1) - g1
    return t0, t1


@nb.njit(cache=True, inline="always")
def _pair_words_signed(r0, r1, xk, sk, d0, d1, g0, g1, ls, rs, n):  # pragma: no cover - numba
    """As :func:`_pair_words` with per-element x signs sk[i] (0 / -1): the sign of cell
    (j, i) is sk[i] ^ g."""
    t0 = 0
    t1 = 0
    for i in range(n):
        x = xk[i]
        c0 = popcount64(x & d0)
        c1 = popcount64(x & d1)
        t0 += c0
        t1 += c1
        sg = np.int64(sk[i])
        e0 = sg ^ g0
        e1 = sg ^ g1
        r0[i] += (((c0 << ls) >> rs) ^ e0) - e0
        r1[i] += (((c1 << ls) >> rs) ^ e1) - e1
    return t0, t1


@nb.njit(cache=True, inline="always")
def _pair_words4(r0, r1, Xk, Dk, j, jj, g0, g1, ls, rs, n):  # pragma: no cover - numba
    """As :func:`_pair_words` for streams of four words (BL 193-256): Xk = X[k] [4, n],
    Dk = D[k] [4, m], rows j and jj (jj = j for an odd last row, whose result the caller
    drops). The four counts of a cell are summed in registers, not in a count array."""
    x0, x1, x2, x3 = Xk[0], Xk[1], Xk[2], Xk[3]
    a0, a1, a2, a3 = Dk[0, j], Dk[1, j], Dk[2, j], Dk[3, j]
    b0, b1, b2, b3 = Dk[0, jj], Dk[1, jj], Dk[2, jj], Dk[3, jj]
    t0 = 0
    t1 = 0
    for i in range(n):
        v0, v1, v2, v3 = x0[i], x1[i], x2[i], x3[i]
        c0 = (popcount64(v0 & a0) + popcount64(v1 & a1) + popcount64(v2 & a2)
              + popcount64(v3 & a3))
        c1 = (popcount64(v0 & b0) + popcount64(v1 & b1) + popcount64(v2 & b2)
              + popcount64(v3 & b3))
        t0 += c0
        t1 += c1
        r0[i] += (((c0 << ls) >> rs) ^ g0) - g0
        r1[i] += (((c1 << ls) >> rs) ^ g1) - g1
    return t0, t1


@nb.njit(cache=True, inline="always")
def _pair_words2(r0, r1, Xk, Dk, j, jj, g0, g1, ls, rs, n):  # pragma: no cover - numba
    """As :func:`_pair_words4` for streams of two words (BL 65-128)."""
    x0, x1 = Xk[0], Xk[1]
    a0, a1 = Dk[0, j], Dk[1, j]
    b0, b1 = Dk[0, jj], Dk[1, jj]
    t0 = 0
    t1 = 0
    for i in range(n):
        v0, v1 = x0[i], x1[i]
        c0 = popcount64(v0 & a0) + popcount64(v1 & a1)
        c1 = popcount64(v0 & b0) + popcount64(v1 & b1)
        t0 += c0
        t1 += c1
        r0[i] += (((c0 << ls) >> rs) ^ g0) - g0
        r1[i] += (((c1 << ls) >> rs) ^ g1) - g1
    return t0, t1


@nb.njit(cache=True, inline="always")
def _pair_counts(r0, r1, c0s, c1s, sk, mixed, g0, g1, ls, rs, n):  # pragma: no cover - numba
    """As :func:`_pair_words` / :func:`_pair_words_signed` (mixed) for multi-word counts
    c0s[i], c1s[i] summed beforehand."""
    t0 = 0
    t1 = 0
    if mixed:
        for i in range(n):
            c0 = c0s[i]
            c1 = c1s[i]
            t0 += c0
            t1 += c1
            sg = np.int64(sk[i])
            e0 = sg ^ g0
            e1 = sg ^ g1
            r0[i] += (((c0 << ls) >> rs) ^ e0) - e0
            r1[i] += (((c1 << ls) >> rs) ^ e1) - e1
    else:
        for i in range(n):
            c0 = c0s[i]
            c1 = c1s[i]
            t0 += c0
            t1 += c1
            r0[i] += (((c0 << ls) >> rs) ^ g0) - g0
            r1[i] += (((c1 << ls) >> rs) ^ g1) - g1
    return t0, t1


@nb.njit(parallel=True, cache=True)
def accumulate_fast(X, xs, xu, D, ds, lsh, rsh, active, acc, inc, kblock,
                    groups):  # pragma: no cover - numba
    """Accumulate a chunk of outer products when no counter and no accumulator step can overflow.

    X uint64 [K, W, n], xs int8 [K, n] sign masks (0 or -1), xu int8 [K] the
    :func:`.comparator.uniform_sign` of each outer product's xs, D uint64 [K, W, m], ds int8
    [K, m], lsh/rsh int64 [K], active bool [K]; acc int64 [m, n] is updated in place; inc int64 [m]
    gets each row's AND ones (counter increments) added. Rows are split into ``groups``
    contiguous ranges, one per thread (one parallel region per call); each thread walks the
    chunk in blocks of ``kblock`` outer products (sized to stay in its L2 cache) and applies a
    block to its rows two at a time (each x word loaded once for both; an odd last row is paired
    with a scratch row). An outer product whose x signs are uniform (xu[k] != 1) needs no
    per-element sign.
    """
    K, W, n = X.shape
    m = acc.shape[0]
    for g in nb.prange(groups):
        j0, j1 = _row_range(g, groups, m)
        c0s = np.zeros(n, dtype=np.int64)
        c1s = np.zeros(n, dtype=np.int64)
        spare = np.zeros(n, dtype=np.int64)  # the odd last row's partner, discarded
        for b0 in range(0, K, kblock):
            b1 = min(K, b0 + kblock)
            for j in range(j0, j1, 2):
                pair = j + 1 < j1
                r0 = acc[j]
                r1 = acc[j + 1] if pair else spare
                tot0 = 0
                tot1 = 0
                for k in range(b0, b1):
                    if not active[k]:
                        continue
                    ls = lsh[k]
                    rs = rsh[k]
                    u = np.int64(xu[k])
                    mixed = u == 1
                    g0 = np.int64(ds[k, j])
                    g1 = np.int64(ds[k, j + 1]) if pair else np.int64(0)
                    if not mixed:
                        g0 ^= u
                        g1 ^= u
                    d0 = D[k, 0, j]
                    d1 = D[k, 0, j + 1] if pair else np.uint64(0)
                    xk = X[k, 0]
                    if W == 1:
                        if mixed:
                            t0, t1 = _pair_words_signed(r0, r1, xk, xs[k], d0, d1, g0, g1,
                                                        ls, rs, n)
                        else:
                            t0, t1 = _pair_words(r0, r1, xk, d0, d1, g0, g1, ls, rs, n)
                    elif W == 4 and not mixed:
                        t0, t1 = _pair_words4(r0, r1, X[k], D[k], j, j + 1 if pair else j,
                                              g0, g1, ls, rs, n)
                    elif W == 2 and not mixed:
                        t0, t1 = _pair_words2(r0, r1, X[k], D[k], j, j + 1 if pair else j,
                                              g0, g1, ls, rs, n)
                    else:
                        for i in range(n):
                            x = xk[i]
                            c0s[i] = popcount64(x & d0)
                            c1s[i] = popcount64(x & d1)
                        for wd in range(1, W):
                            d0 = D[k, wd, j]
                            d1 = D[k, wd, j + 1] if pair else np.uint64(0)
                            xk = X[k, wd]
                            for i in range(n):
                                x = xk[i]
                                c0s[i] += popcount64(x & d0)
                                c1s[i] += popcount64(x & d1)
                        t0, t1 = _pair_counts(r0, r1, c0s, c1s, xs[k], mixed, g0, g1, ls, rs, n)
                    tot0 += t0
                    tot1 += t1
                inc[j] += tot0
                if pair:
                    inc[j + 1] += tot1


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

    The row groups, k blocks and data of :func:`accumulate_fast`, one row at a time, without
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


#: Largest BL packed by :func:`accumulate_fast_any`: at most 32, so that a 64-bit word holds
#: P = 64 // BL >= 2 outer products (measured: docs/numerics-essop.md, packed kernel).
PACK_MAX_BL = 32
#: Packing pays when P * m (slots times the rows that share each packed x word) reaches this:
#: the pack costs per outer product and row, the packed kernel saves per cell
#: (measured against :func:`accumulate_fast`: docs/numerics-essop.md, packed kernel).
PACK_MIN_ROW_SLOTS = 256


def packs(bl: int, m: int) -> bool:
    """Whether :func:`accumulate_fast_any` packs an update of BL ``bl`` (bits) and ``m`` rows."""
    return bl <= PACK_MAX_BL and (64 // bl) * m >= PACK_MIN_ROW_SLOTS
#: Bytes of x-side data per k block that the accumulation kernels keep in a core's L2 cache.
KBLOCK_CACHE_BYTES = 256 << 10


def packed_plan(lsh: np.ndarray, rsh: np.ndarray, active: np.ndarray,
                slots: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(order, gstart, gshift, rest): how :func:`accumulate_packed` packs a chunk.

    order (int64 [N]) lists the active k with no right shift (rsh[k] == 0), stably sorted by
    left shift lsh[k]; they are cut into runs of equal lsh and each run into groups of up to
    ``slots`` consecutive entries of order (the last group of a run may be partial). Group g
    holds order[gstart[g] : gstart[g + 1]] (gstart int64 [G + 1]) and has the left shift
    gshift[g] (int64 [G], bits) of all its k. rest (bool [K]) marks the active k with a right
    shift: their floor (c << F) >> s_k is not linear in the count c, so they are not packed.
    """
    return _packed_plan(np.ascontiguousarray(lsh, dtype=np.int64),
                        np.ascontiguousarray(rsh, dtype=np.int64),
                        np.ascontiguousarray(active, dtype=np.bool_), int(slots))


@nb.njit(cache=True)
def _packed_plan(lsh, rsh, active, slots):  # pragma: no cover - numba
    """:func:`packed_plan` by a counting sort (lsh is a small non-negative int); the groups are
    cut per shift from the counts, no pass over order."""
    K = lsh.shape[0]
    rest = np.zeros(K, dtype=np.bool_)
    top = 0
    for k in range(K):
        if active[k]:
            if rsh[k] > 0:
                rest[k] = True
            else:
                top = max(top, lsh[k])
    count = np.zeros(top + 1, dtype=np.int64)
    for k in range(K):
        if active[k] and rsh[k] == 0:
            count[lsh[k]] += 1
    first = np.empty(top + 1, dtype=np.int64)  # first[v]: where shift v's k start in order
    n = 0
    G = 0
    for v in range(top + 1):
        first[v] = n
        n += count[v]
        G += (count[v] + slots - 1) // slots
    gstart = np.empty(G + 1, dtype=np.int64)
    gshift = np.empty(G, dtype=np.int64)
    g = 0
    for v in range(top + 1):  # runs of equal shift, each cut into groups of up to `slots`
        for p in range(first[v], first[v] + count[v], slots):
            gstart[g] = p
            gshift[g] = v
            g += 1
    gstart[G] = n
    order = np.empty(n, dtype=np.int64)
    for k in range(K):  # in increasing k: stable
        if active[k] and rsh[k] == 0:
            order[first[lsh[k]]] = k
            first[lsh[k]] += 1
    return order, gstart, gshift, rest


@nb.njit(cache=True, inline="always")
def _pack_side(A, As, order, p0, p1, bl, out, neg):  # pragma: no cover - numba
    """One group of one side: out[r] = OR over slots s of (A[order[p0 + s], 0, r] & ones) <<
    (s BL), neg[r] = OR over s of (ones << s BL) where As[order[p0 + s], r] = -1 (negative),
    for every row r; ones = 2^BL - 1 (bits 0..BL-1, the stream's cycles)."""
    ones = (np.uint64(1) << np.uint64(bl)) - np.uint64(1)
    for r in range(out.shape[0]):
        out[r] = 0
        neg[r] = 0
    for p in range(p0, p1):
        k = order[p]
        sh = np.uint64((p - p0) * bl)
        slot = ones << sh
        a = A[k, 0]
        sg = As[k]
        for r in range(out.shape[0]):
            out[r] |= (a[r] & ones) << sh
            neg[r] |= slot & np.uint64(np.int64(sg[r]))


@nb.njit(cache=True)
def pack_groups(X, xs, D, ds, order, gstart, bl, Xp, NX, Dp, ND):  # pragma: no cover - numba
    """Pack the groups of :func:`packed_plan` into words (one thread: about 1 ns per outer
    product and row, no parallel region to wait for on a busy machine).

    X uint64 [K, 1, n] (BL <= 32: one word per stream, cycles in bits 0..BL-1), xs int8 [K, n]
    sign masks (0 / -1), D [K, 1, m], ds [K, m]. Group g's s-th outer product k = order[gstart[g]
    + s] goes to bits s BL .. s BL + BL - 1 (slot s) of Xp[g, i] (uint64 [G, n]) and Dp[g, j]
    ([G, m]); NX[g, i] (ND[g, j]) has the ones of slot s set iff x_k,i (delta_k,j) is negative.
    """
    for g in range(gstart.shape[0] - 1):
        p0 = gstart[g]
        p1 = gstart[g + 1]
        _pack_side(X, xs, order, p0, p1, bl, Xp[g], NX[g])
        _pack_side(D, ds, order, p0, p1, bl, Dp[g], ND[g])


@nb.njit(cache=True, inline="always")
def _pair_packed(r0, r1, xg, d0, d1, m0, m1, ls, n):  # pragma: no cover - numba
    """Rows j and j + 1 of one packed group whose x signs are uniform in every slot: the
    slots with a negative product are the ones of the row's mask m (a constant of the row), so
    r[i] += (popcount(x & d & ~m) - popcount(x & d & m)) << ls, each x word loaded once for both
    rows. Returns the two rows' AND ones."""
    p0 = d0 & ~m0
    n0 = d0 & m0
    p1 = d1 & ~m1
    n1 = d1 & m1
    t0 = 0
    t1 = 0
    for i in range(n):
        x = xg[i]
        a0 = popcount64(x & p0)
        b0 = popcount64(x & n0)
        a1 = popcount64(x & p1)
        b1 = popcount64(x & n1)
        t0 += a0 + b0
        t1 += a1 + b1
        r0[i] += (a0 - b0) << ls
        r1[i] += (a1 - b1) << ls
    return t0, t1


@nb.njit(cache=True, inline="always")
def _pair_packed4(r0, r1, Xp, Dp, ND, NX, g, j, jj, ls, n):  # pragma: no cover - numba
    """:func:`_pair_packed` for four groups g .. g + 3 of the same left shift at once (rows j
    and jj; jj == j for an odd last row, whose results the caller discards): their counts are
    summed in registers and each accumulator element is updated once for the four."""
    xa = Xp[g]
    xb = Xp[g + 1]
    xc = Xp[g + 2]
    xd = Xp[g + 3]
    ma0 = NX[g, 0] ^ ND[g, j]
    mb0 = NX[g + 1, 0] ^ ND[g + 1, j]
    mc0 = NX[g + 2, 0] ^ ND[g + 2, j]
    md0 = NX[g + 3, 0] ^ ND[g + 3, j]
    ma1 = NX[g, 0] ^ ND[g, jj]
    mb1 = NX[g + 1, 0] ^ ND[g + 1, jj]
    mc1 = NX[g + 2, 0] ^ ND[g + 2, jj]
    md1 = NX[g + 3, 0] ^ ND[g + 3, jj]
    pa0 = Dp[g, j] & ~ma0
    na0 = Dp[g, j] & ma0
    pb0 = Dp[g + 1, j] & ~mb0
    nb0 = Dp[g + 1, j] & mb0
    pc0 = Dp[g + 2, j] & ~mc0
    nc0 = Dp[g + 2, j] & mc0
    pd0 = Dp[g + 3, j] & ~md0
    nd0 = Dp[g + 3, j] & md0
    pa1 = Dp[g, jj] & ~ma1
    na1 = Dp[g, jj] & ma1
    pb1 = Dp[g + 1, jj] & ~mb1
    nb1 = Dp[g + 1, jj] & mb1
    pc1 = Dp[g + 2, jj] & ~mc1
    nc1 = Dp[g + 2, jj] & mc1
    pd1 = Dp[g + 3, jj] & ~md1
    nd1 = Dp[g + 3, jj] & md1
    t0 = 0
    t1 = 0
    for i in range(n):
        a = xa[i]
        b = xb[i]
        c = xc[i]
        d = xd[i]
        u0 = (popcount64(a & pa0) + popcount64(b & pb0)
              + popcount64(c & pc0) + popcount64(d & pd0))
        v0 = (popcount64(a & na0) + popcount64(b & nb0)
              + popcount64(c & nc0) + popcount64(d & nd0))
        u1 = (popcount64(a & pa1) + popcount64(b & pb1)
              + popcount64(c & pc1) + popcount64(d & pd1))
        v1 = (popcount64(a & na1) + popcount64(b & nb1)
              + popcount64(c & nc1) + popcount64(d & nd1))
        t0 += u0 + v0
        t1 += u1 + v1
        r0[i] += (u0 - v0) << ls
        r1[i] += (u1 - v1) << ls
    return t0, t1


@nb.njit(cache=True, inline="always")
def _pair_packed_signed(r0, r1, xg, ng, d0, d1, nd0, nd1, ls, n):  # pragma: no cover - numba
    """:func:`_pair_packed` for a group with mixed x signs: the negative slots of cell (j, i)
    are NX[g, i] ^ ND[g, j], read per element."""
    t0 = 0
    t1 = 0
    for i in range(n):
        x = xg[i]
        nx = ng[i]
        a0 = x & d0
        a1 = x & d1
        c0 = popcount64(a0)
        c1 = popcount64(a1)
        t0 += c0
        t1 += c1
        r0[i] += (c0 - 2 * popcount64(a0 & (nx ^ nd0))) << ls
        r1[i] += (c1 - 2 * popcount64(a1 & (nx ^ nd1))) << ls
    return t0, t1


@nb.njit(parallel=True, cache=True)
def accumulate_packed(Xp, NX, Dp, ND, gu, gshift, acc, inc, kblock,
                      groups):  # pragma: no cover - numba
    """Fast-path accumulation of packed groups (:func:`pack_groups`).

    For every group g and cell (j, i): t = Xp[g, i] & Dp[g, j] holds each slot's AND ones,
    t & (NX[g, i] ^ ND[g, j]) those of the slots whose product sign is negative, so
    acc[j, i] += (popcount(t) - 2 popcount(t & (NX ^ ND))) << gshift[g], the group's signed
    count times 2^lsh; inc[j] += popcount(t) summed over i and g (counter increments).
    Xp, NX uint64 [G, n]; Dp, ND [G, m]; gu int8 [G] (:func:`group_uniform`: 1 when every slot's
    x signs are uniform, so that NX[g, i] is the same word for every i); gshift int64 [G] (bits);
    acc int64 [m, n] and inc int64 [m] are updated in place. Same loop shape as
    :func:`accumulate_fast`: one row range per thread (``groups`` of them), blocks of ``kblock``
    packed groups, rows two at a time (an odd last row paired with a scratch row), i innermost.
    A group with uniform x signs reads no NX: the negative slots of row j are NX[g, 0] ^ ND[g, j]
    for every i, so the row's word is split once into its positive and negative slots.
    """
    G, n = Xp.shape
    m = acc.shape[0]
    for rg in nb.prange(groups):
        j0, j1 = _row_range(rg, groups, m)
        spare = np.zeros(n, dtype=np.int64)  # the odd last row's partner, discarded
        for b0 in range(0, G, kblock):
            b1 = min(G, b0 + kblock)
            for j in range(j0, j1, 2):
                pair = j + 1 < j1
                r0 = acc[j]
                r1 = acc[j + 1] if pair else spare
                tot0 = 0
                tot1 = 0
                g = b0
                while g < b1:
                    ls = gshift[g]
                    step = 1
                    if (gu[g] != 0 and g + 3 < b1 and gu[g + 1] != 0 and gu[g + 2] != 0
                            and gu[g + 3] != 0 and gshift[g + 1] == ls and gshift[g + 2] == ls
                            and gshift[g + 3] == ls and n > 0):
                        t0, t1 = _pair_packed4(r0, r1, Xp, Dp, ND, NX, g, j,
                                               j + 1 if pair else j, ls, n)
                        step = 4
                    else:
                        d0 = Dp[g, j]
                        d1 = Dp[g, j + 1] if pair else np.uint64(0)
                        nd0 = ND[g, j]
                        nd1 = ND[g, j + 1] if pair else np.uint64(0)
                        if gu[g] != 0 and n > 0:
                            c = NX[g, 0]
                            t0, t1 = _pair_packed(r0, r1, Xp[g], d0, d1, c ^ nd0, c ^ nd1, ls,
                                                  n)
                        else:
                            t0, t1 = _pair_packed_signed(r0, r1, Xp[g], NX[g], d0, d1, nd0,
                                                         nd1, ls, n)
                    tot0 += t0
                    tot1 += t1
                    g += step
                inc[j] += tot0
                if pair:
                    inc[j + 1] += tot1


@nb.njit(cache=True)
def group_uniform(xu, order, gstart):  # pragma: no cover - numba
    """gu int8 [G]: 1 when every outer product of group g (order[gstart[g] : gstart[g + 1]])
    has uniform x signs (xu[k] != 1, :func:`.comparator.uniform_sign`), else 0."""
    G = gstart.shape[0] - 1
    gu = np.ones(G, dtype=np.int8)
    for g in range(G):
        for p in range(gstart[g], gstart[g + 1]):
            if xu[order[p]] == 1:
                gu[g] = 0
    return gu


def accumulate_fast_any(X, xs, xu, D, ds, lsh, rsh, active, acc, inc, bl: int, kblock: int,
                        groups: int) -> None:
    """:func:`accumulate_fast`'s result (acc and every inc[j], bit for bit) for a chunk on the
    fast path (no counter and no accumulator step can overflow), choosing the kernel by BL.

    When :func:`packs` (BL <= PACK_MAX_BL, one word per stream, and enough rows share each
    packed word): the active k with no right shift are packed
    P = 64 // BL to a word (:func:`packed_plan`, :func:`pack_groups`) and accumulated by
    :func:`accumulate_packed`; the active k with a right shift go through
    :func:`accumulate_fast` with the other k masked off. Longer streams: :func:`accumulate_fast`.
    On one numba thread the kernels' serial variants run (:func:`.threads.for_threads`).
    Arguments as for :func:`accumulate_fast`, plus bl (bits); kblock and groups are its layout
    (:func:`kernel_layout`), the packed kernel's k block is sized from the same cache budget.
    """
    plain = for_threads(accumulate_fast)  # its serial variant when numba runs on one thread
    if X.shape[1] != 1 or not packs(bl, D.shape[2]):
        plain(X, xs, xu, D, ds, lsh, rsh, active, acc, inc, kblock, groups)
        return
    n, m = X.shape[2], D.shape[2]
    order, gstart, gshift, rest = packed_plan(lsh, rsh, active, 64 // bl)
    G = gshift.size
    if G:
        Xp = np.empty((G, n), dtype=np.uint64)
        NX = np.empty((G, n), dtype=np.uint64)
        Dp = np.empty((G, m), dtype=np.uint64)
        ND = np.empty((G, m), dtype=np.uint64)
        pack_groups(X, xs, D, ds, order, gstart, bl, Xp, NX, Dp, ND)
        accumulate_groups_packed(Xp, NX, Dp, ND, group_uniform(xu, order, gstart), gshift,
                                 acc, inc, groups)
    if rest.any():
        plain(X, xs, xu, D, ds, lsh, rsh, rest, acc, inc, kblock, groups)


def accumulate_groups_packed(Xp, NX, Dp, ND, gu, gshift, acc, inc, groups: int) -> None:
    """:func:`accumulate_packed` (its serial variant on one numba thread) with its k block
    sized from the accumulation kernels' cache budget (:data:`KBLOCK_CACHE_BYTES`)."""
    n = Xp.shape[1]
    for_threads(accumulate_packed)(Xp, NX, Dp, ND, gu, gshift, acc, inc,
                                   max(1, KBLOCK_CACHE_BYTES // (16 * n)), groups)


def kernel_layout(n: int, m: int, words: int,
                  cache_bytes: int = KBLOCK_CACHE_BYTES) -> tuple[int, int]:
    """(kblock, groups) for the accumulation kernels: k-block whose packed x streams and signs
    fit ``cache_bytes`` (per-core L2), and one row group per numba thread (at most m)."""
    kblock = max(1, cache_bytes // (n * (8 * words + 1)))
    return int(kblock), int(max(1, min(threads_in_effect(), m)))


@nb.njit(cache=True)
def max_abs_int(a):  # pragma: no cover - numba
    """max |a| over an int64 array (0 for an empty one)."""
    mx = 0
    for v in a.ravel():
        av = -v if v < 0 else v
        if av > mx:
            mx = av
    return mx


@nb.njit(cache=True)
def _readout(acc, scale, bl, neg_eta, dw, update):  # pragma: no cover - numba
    for j in range(acc.shape[0]):
        for i in range(acc.shape[1]):
            v = np.float64(acc[j, i]) * scale / bl
            dw[j, i] = v
            update[j, i] = neg_eta * v


def readout(acc: np.ndarray, exponent: int, bl: int, eta: float) -> tuple[np.ndarray, np.ndarray]:
    """(dw, update) float64 [m, n] of the accumulators acc (int64 [m, n]): dw = float64(acc) *
    2^exponent / bl, each step rounded as float64 arithmetic rounds it (the power of two scales
    exactly unless the result is subnormal; it over- and underflows like float64), and update =
    -eta * dw. One pass when 2^exponent is a normal double, else numpy's ldexp."""
    if -1022 <= exponent <= 1023:
        dw = np.empty(acc.shape, dtype=np.float64)
        update = np.empty(acc.shape, dtype=np.float64)
        _readout(acc, math.ldexp(1.0, exponent), float(bl), -float(eta), dw, update)
        return dw, update
    with np.errstate(over="ignore", under="ignore"):
        dw = np.ldexp(acc.astype(np.float64), exponent) / bl
        return dw, -eta * dw
