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

import os

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


@nb.njit(cache=True, inline="always")
def _transpose_rows(A, As, order, AT, SAT, r0, r1):  # pragma: no cover - numba
    """AT[r, p*W + w] = A[order[p], w, r] and SAT[r, p*W + w] = As[order[p], r] for rows
    r0 <= r < r1: the k-contiguous layout of :func:`accumulate_grouped` (one int8 sign mask
    per word, so every word carries its own sign)."""
    W = A.shape[1]
    for p in range(order.shape[0]):
        k = order[p]
        for w in range(W):
            col = p * W + w
            for r in range(r0, r1):
                AT[r, col] = A[k, w, r]
                SAT[r, col] = As[k, r]


@nb.njit(cache=True, inline="always")
def _cell_sums(x, sx, d, sd, b0, b1):  # pragma: no cover - numba
    """(u, s) for one cell over words b0..b1-1: u = sum popcount(x & d) (AND ones), s = sum
    popcount(x & d & (sx ^ sd)) (the ones of words whose product sign is negative)."""
    u = 0
    s = 0
    for b in range(b0, b1):
        t = x[b] & d[b]
        u += popcount64(t)
        s += popcount64(t & np.uint64(np.int64(sx[b] ^ sd[b])))
    return u, s


@nb.njit(cache=True, inline="always")
def _tile_2x2(XT, SXT, DT, SDT, i, j, b0, b1, acc, mult):  # pragma: no cover - numba
    """Cells (j..j+1, i..i+1) over words b0..b1-1, four sums of each kind held in registers
    (words innermost, vectorised): acc[j', i'] += (u - 2 s) * mult. Returns the sum of u."""
    x0 = XT[i, b0:b1]
    x1 = XT[i + 1, b0:b1]
    f0 = SXT[i, b0:b1]
    f1 = SXT[i + 1, b0:b1]
    d0 = DT[j, b0:b1]
    d1 = DT[j + 1, b0:b1]
    e0 = SDT[j, b0:b1]
    e1 = SDT[j + 1, b0:b1]
    u00 = u01 = u10 = u11 = 0
    s00 = s01 = s10 = s11 = 0
    for b in range(b1 - b0):
        a = x0[b]
        c = x1[b]
        g0 = np.uint64(np.int64(f0[b]))
        g1 = np.uint64(np.int64(f1[b]))
        dv = d0[b]
        h = np.uint64(np.int64(e0[b]))
        t = a & dv
        u00 += popcount64(t)
        s00 += popcount64(t & (g0 ^ h))
        t = c & dv
        u01 += popcount64(t)
        s01 += popcount64(t & (g1 ^ h))
        dv = d1[b]
        h = np.uint64(np.int64(e1[b]))
        t = a & dv
        u10 += popcount64(t)
        s10 += popcount64(t & (g0 ^ h))
        t = c & dv
        u11 += popcount64(t)
        s11 += popcount64(t & (g1 ^ h))
    acc[j, i] += (u00 - 2 * s00) * mult
    acc[j, i + 1] += (u01 - 2 * s01) * mult
    acc[j + 1, i] += (u10 - 2 * s10) * mult
    acc[j + 1, i + 1] += (u11 - 2 * s11) * mult
    return u00 + u01 + u10 + u11


@nb.njit(cache=True, inline="always")
def _tile_rows(XT, SXT, DT, SDT, j0, j1, i0, i1, b0, b1, acc, mult):  # pragma: no cover
    """Cells (j0..j1-1, i0..i1-1) over words b0..b1-1: 2 x 2 register tiles where they fit,
    single cells for the remaining row and column. Returns the AND ones of these cells."""
    jt = j0 + ((j1 - j0) // 2) * 2
    it = i0 + ((i1 - i0) // 2) * 2
    tot = 0
    for j in range(j0, jt, 2):
        for i in range(i0, it, 2):
            tot += _tile_2x2(XT, SXT, DT, SDT, i, j, b0, b1, acc, mult)
    for j in range(j0, j1):
        lo = it if j < jt else i0
        for i in range(lo, i1):
            u, s = _cell_sums(XT[i], SXT[i], DT[j], SDT[j], b0, b1)
            acc[j, i] += (u - 2 * s) * mult
            tot += u
    return tot


@nb.njit(parallel=True, cache=True)
def to_k_contiguous(X, Xs, D, Ds, order, XT, SXT, DT, SDT):  # pragma: no cover - numba
    """Re-pack the outer products ``order`` (int64 [P]) of X uint64 [K, W, n], Xs int8 [K, n],
    D [K, W, m], Ds [K, m] into the k-contiguous layout of :func:`accumulate_grouped`:
    XT[i, p*W + w] = X[order[p], w, i], SXT[i, p*W + w] = Xs[order[p], i] (likewise DT, SDT),
    in parallel over blocks of 8 rows."""
    n = X.shape[2]
    m = D.shape[2]
    nbx = (n + 7) // 8
    nbd = (m + 7) // 8
    for b in nb.prange(nbx + nbd):
        if b < nbx:
            _transpose_rows(X, Xs, order, XT, SXT, 8 * b, min(n, 8 * b + 8))
        else:
            r = b - nbx
            _transpose_rows(D, Ds, order, DT, SDT, 8 * r, min(m, 8 * r + 8))


@nb.njit(parallel=True, cache=True)
def accumulate_grouped(XT, SXT, DT, SDT, W, seg, seg_shift, acc, inc, kblock,
                       icols):  # pragma: no cover - numba
    """Fast-path accumulation from the k-contiguous layout, grouped by equal left shift:
    acc[j, i] += sum over groups g of 2^seg_shift[g] * sum over k in g of
    sign * popcount(X[k, :, i] & D[k, :, j]), exact. Valid only when no counter and no
    accumulator step can overflow and no k of the groups has a right shift: the integer sum is
    then order-independent and equals the in-order steps of :func:`accumulate_fast`.

    XT uint64 [n, P*W], SXT int8 [n, P*W] (0 / -1 per word), DT, SDT [m, P*W] as written by
    :func:`to_k_contiguous`; W words per outer product; group g = outer products (positions)
    seg[g] .. seg[g+1]-1 (seg int64 [G + 1]), left shift seg_shift[g] (bits). acc int64 [m, n]
    is updated in place; inc int64 [m] gets the AND ones (each 2-row tile's on its first
    row: the total is exact, the split over rows is not).

    Parallel over tasks = 4-row blocks of acc x ``icols``-column blocks; each walks every group
    in blocks of ``kblock`` words and computes per cell, with t = x & d, u = sum popcount(t)
    and s = sum popcount(t & (sx ^ sd)) (the ones of words whose product sign is negative) in
    registers (2 x 2 cells per tile, words innermost: vector popcounts), then adds the signed
    count times the group's power of two, (u - 2 s) << shift, once per block.
    """
    n = XT.shape[0]
    m = DT.shape[0]
    G = seg_shift.shape[0]
    jtasks = (m + 3) // 4
    itasks = (n + icols - 1) // icols
    ones = np.zeros(jtasks * itasks, dtype=np.int64)
    for task in nb.prange(jtasks * itasks):
        jt, it = divmod(task, itasks)
        j0 = 4 * jt
        j1 = min(m, j0 + 4)
        i0 = it * icols
        i1 = min(n, i0 + icols)
        tot = 0
        for g in range(G):
            mult = np.int64(1) << seg_shift[g]
            w1 = seg[g + 1] * W
            for b0 in range(seg[g] * W, w1, kblock):
                tot += _tile_rows(XT, SXT, DT, SDT, j0, j1, i0, i1, b0, min(w1, b0 + kblock),
                                  acc, mult)
        ones[task] = tot
    for task in range(jtasks * itasks):
        inc[4 * (task // itasks)] += ones[task]


def cache_sizes() -> dict[int, int]:
    """Per-core data/unified cache sizes in bytes by level, from Linux sysfs
    (/sys/devices/system/cpu/cpu0/cache/index*/size); {1: 32 KiB, 2: 1 MiB} when unreadable."""
    sizes = {1: 32 << 10, 2: 1 << 20}
    base = "/sys/devices/system/cpu/cpu0/cache"
    try:
        entries = sorted(os.listdir(base))
    except OSError:
        return sizes
    for entry in entries:
        if not entry.startswith("index"):
            continue
        try:
            with open(f"{base}/{entry}/level") as f:
                level = int(f.read())
            with open(f"{base}/{entry}/type") as f:
                kind = f.read().strip()
            with open(f"{base}/{entry}/size") as f:
                text = f.read().strip()
        except (OSError, ValueError):
            continue
        if kind == "Instruction" or not text:
            continue
        scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1].upper(), 1)
        try:
            sizes[level] = int(text.rstrip("KMGkmg")) * scale
        except ValueError:
            continue
    return sizes


_CACHE = None


def grouped_layout(n: int, m: int) -> tuple[int, int]:
    """(kblock, icols) for :func:`accumulate_grouped`: tasks span ``icols`` columns (64, or n),
    and a block of ``kblock`` words (a multiple of 64) keeps the block's x and delta rows
    (8 + 1 bytes per word and row) within half the per-core L2 cache and its four delta rows
    within half the L1 cache."""
    global _CACHE
    if _CACHE is None:
        _CACHE = cache_sizes()
    icols = min(n, 64)
    l2 = _CACHE.get(2, 1 << 20) // 2
    l1 = _CACHE.get(1, 32 << 10) // 2
    words = min(l2 // (9 * (icols + 4)), l1 // (9 * 4))
    return int(max(64, words // 64 * 64)), int(icols)


class FastWorkspace:
    """Reusable scratch for :func:`accumulate_fast_grouped`: k-contiguous words and sign bytes
    for up to ``kmax`` outer products of ``words`` words, n x and m delta rows."""

    def __init__(self, kmax: int, words: int, n: int, m: int):
        cols = kmax * words
        self.n, self.m = n, m
        self.xt = np.empty(n * cols, dtype=np.uint64)
        self.sxt = np.empty(n * cols, dtype=np.int8)
        self.dt = np.empty(m * cols, dtype=np.uint64)
        self.sdt = np.empty(m * cols, dtype=np.int8)
        self.kblock, self.icols = grouped_layout(n, m)

    def views(self, cols: int):
        """C-contiguous [rows, cols] views of the four buffers."""
        n, m = self.n, self.m
        return (self.xt[:n * cols].reshape(n, cols), self.sxt[:n * cols].reshape(n, cols),
                self.dt[:m * cols].reshape(m, cols), self.sdt[:m * cols].reshape(m, cols))


def group_plan(lsh: np.ndarray, rsh: np.ndarray,
               active: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(order, seg, seg_shift, rest) for :func:`accumulate_grouped`: the active k with no right
    shift, stably sorted by left shift (int64 [P]); group boundaries seg (int64 [G + 1],
    positions in order) and each group's left shift (int64 [G], bits); and ``rest``, the bool
    [K] mask of the active k with a right shift (their floor is per count: not grouped)."""
    lin = active & (rsh == 0)
    idx = np.flatnonzero(lin)
    order = idx[np.argsort(lsh[idx], kind="stable")].astype(np.int64)
    sh = lsh[order]
    cuts = np.flatnonzero(sh[1:] != sh[:-1]) + 1
    seg = np.concatenate(([0], cuts, [order.size])).astype(np.int64)
    return order, seg, sh[seg[:-1]].astype(np.int64), active & (rsh > 0)


def accumulate_fast_grouped(X, Xs, D, Ds, lsh, rsh, active, acc, inc, work: FastWorkspace,
                            groups: int, kblock_rows: int) -> None:
    """Same result as :func:`accumulate_fast` (acc, and the total of inc) for a chunk in which
    no counter and no accumulator step can overflow, faster: the outer products without a
    right shift go through :func:`accumulate_grouped` (grouped by shift, k-contiguous,
    counts in registers); those with a right shift (rare: s_k > F) through
    :func:`accumulate_fast` with the other k masked off (``groups``, ``kblock_rows`` as for it).
    """
    order, seg, seg_shift, rest = group_plan(lsh, rsh, active)
    if order.size:
        W = X.shape[1]
        XT, SXT, DT, SDT = work.views(order.size * W)
        to_k_contiguous(X, Xs, D, Ds, order, XT, SXT, DT, SDT)
        accumulate_grouped(XT, SXT, DT, SDT, W, seg, seg_shift, acc, inc, work.kblock,
                           work.icols)
    if rest.any():
        accumulate_fast(X, Xs, D, Ds, lsh, rsh, rest, acc, inc, kblock_rows, groups)


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
