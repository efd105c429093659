"""Short bitstreams built straight into packed words: one compare per element and group.

On the packed fast path the P = 64 // BL outer products of a group share a 64-bit word, outer
product k_s of the group in slot s (bits s BL .. s BL + BL - 1; groups and slots as
:func:`.and_counter.packed_plan` and :func:`.and_counter.pack_groups` define them). Building
every outer product's stream on its own (one 64-number compare per element and outer product,
:func:`.comparator.lt_words`) and packing the words afterwards costs per element and outer
product, whatever BL is. When the slots fill the word exactly (BL 1, 2, 4, 8, 16, 32) and the
random numbers are bytes (comparator width w <= 8, a shared sequence per side), the whole packed
word of an element is one 64-lane compare instead (:func:`packed_streams`):

1. every k of the chunk, in order, quantises its rows (:func:`.comparator.quantize_row`) and
   keeps each magnitude as a byte, min(q, 255), in a chunk buffer Q (one row per k);
2. for each group, lane l = s BL + t of a 64-byte vector holds random number t of slot s's
   outer product, R[k_s stride + t]; for BL consecutive elements, the P slots' BL bytes are
   loaded into one vector (slot-major) and each element's lanes are one constant shuffle of it
   (lane l takes slot l // BL's byte of that element); the lanes' ``r < q`` bits are the packed
   word, bit l = lane l: bit s BL + t is stream bit t of k_s, what ``lt_words`` computes slot
   by slot, so the words are identical.

A magnitude q = 2^w = 256 does not fit a byte: it is stored as 255 and its slot's BL bits are
set afterwards (q = 256 is above every 8-bit number, so its stream is all ones). Slots of a last,
partial group read an all-zero row of Q and number 0, so they stay zero. Sign masks are packed as
:func:`.and_counter.pack_groups` packs them. Results are bit-identical to building the streams
with :func:`.comparator.streams_both` and packing them with :func:`.and_counter.pack_groups`
(tests/test_packed_streams.py); docs/numerics-essop.md, "Streams built packed".
"""

from __future__ import annotations

import numba as nb
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from .comparator import MODE_MASK, lt_words, quantize_row, uniform_sign

#: Bitstream lengths whose P = 64 // BL slots fill a word exactly.
SLOT_BLS = (1, 2, 4, 8, 16, 32)


#: Least P * n * m (slots per word times cells) for which :func:`fits` builds streams packed:
#: a group costs a fixed amount besides its elements, and with few slots and narrow rows that
#: cost outweighs the saving (ResNet-32 conv1, n 27, m 16: BL 32 (P 2, 864) 15% slower than
#: streams built one by one, BL 16 (1728) 12% faster; scripts/bench_short_streams.py).
MIN_CELL_SLOTS = 1024


def fits(bl: int, mode_x: int, mode_d: int, number_dtype: type, n: int, m: int) -> bool:
    """Whether :func:`packed_streams` builds these streams: BL in :data:`SLOT_BLS`, a shared
    sequence on both sides compared 64 at a time (MODE_MASK), with byte random numbers, and
    (64 // BL) n m >= :data:`MIN_CELL_SLOTS`."""
    return (bl in SLOT_BLS and mode_x == mode_d == MODE_MASK
            and np.dtype(number_dtype) == np.uint8 and (64 // bl) * n * m >= MIN_CELL_SLOTS)


def _make_lt_slots(bl: int):
    """An intrinsic ``lt_slots(rg, Q, rows, full, out)`` for one BL: out[i] = packed word of
    (rg[l] < Q[rows[l // bl], i]) over lanes l = 0..63, OR full[i].

    rg: uint8 [64] numbers by lane; Q: C-contiguous uint8 [K, pitch] magnitudes (pitch >= n
    rounded up to bl: columns past n are read, their words not stored); rows: int64 [P] the row
    of Q of each slot (P = 64 // bl); full: uint64 [>= n]; out: uint64 [n] (n = its length).
    Elements go bl at a time: the P slot rows' bl bytes are loaded (P loads) into one 64-byte
    vector, slot-major, and each element's 64 lanes are one constant shuffle of it (lane l takes
    slot l // bl's byte), then one 64-lane compare whose i1 lanes bitcast to the word.
    """
    slots = 64 // bl

    @intrinsic
    def lt_slots(typingctx, rg, Q, rows, full, out):
        if not (isinstance(rg, types.Array) and rg.dtype == types.uint8 and rg.ndim == 1
                and isinstance(Q, types.Array) and Q.dtype == types.uint8 and Q.ndim == 2
                and Q.layout == "C"
                and isinstance(rows, types.Array) and rows.dtype == types.int64
                and rows.ndim == 1 and rows.layout == "C"
                and isinstance(full, types.Array) and full.dtype == types.uint64
                and full.ndim == 1 and full.layout == "C"
                and isinstance(out, types.Array) and out.dtype == types.uint64
                and out.ndim == 1 and out.layout == "C"):
            return None
        sig = types.void(rg, Q, rows, full, out)

        def codegen(context, builder, signature, args):
            from numba.core import cgutils

            rarr = context.make_array(signature.args[0])(context, builder, args[0])
            qarr = context.make_array(signature.args[1])(context, builder, args[1])
            sarr = context.make_array(signature.args[2])(context, builder, args[2])
            farr = context.make_array(signature.args[3])(context, builder, args[3])
            oarr = context.make_array(signature.args[4])(context, builder, args[4])
            i8, i32, i64 = ir.IntType(8), ir.IntType(32), ir.IntType(64)
            lanes = ir.VectorType(i8, 64)
            chunk = ir.IntType(8 * bl)  # one slot's bytes of bl consecutive elements (bl <= 8)
            nums = builder.load(builder.bitcast(rarr.data, lanes.as_pointer()), align=1)
            qbase = builder.bitcast(qarr.data, i8.as_pointer())
            pitch = cgutils.unpack_tuple(builder, qarr.shape, 2)[1]
            bases = [builder.gep(qbase, [builder.mul(
                builder.load(builder.gep(sarr.data, [ir.Constant(i64, s)])), pitch)])
                for s in range(slots)]
            n = cgutils.unpack_tuple(builder, oarr.shape, 1)[0]
            blocks = builder.udiv(builder.add(n, ir.Constant(n.type, bl - 1)),
                                  ir.Constant(n.type, bl))
            # lane l of element e's vector = slot-major lane (l // bl) * bl + e
            spreads = [ir.Constant(ir.VectorType(i32, 64), [(lane // bl) * bl + e
                                                           for lane in range(64)])
                       for e in range(bl)]
            with cgutils.for_range(builder, blocks) as loop:
                i0 = builder.mul(loop.index, ir.Constant(n.type, bl))
                if bl <= 8:  # slots as integer elements of one vector (i8 .. i64)
                    vec = ir.Constant(ir.VectorType(chunk, slots), ir.Undefined)
                    for s in range(slots):
                        ptr = builder.bitcast(builder.gep(bases[s], [i0]), chunk.as_pointer())
                        vec = builder.insert_element(vec, builder.load(ptr, align=1),
                                                     ir.Constant(i32, s))
                    qv = builder.bitcast(vec, lanes)
                else:  # 16 or 32 bytes per slot: byte vectors, concatenated (no i128 / i256)
                    parts = [builder.load(builder.bitcast(builder.gep(bases[s], [i0]),
                                                          ir.VectorType(i8, bl).as_pointer()),
                                          align=1) for s in range(slots)]
                    while len(parts) > 1:
                        width = 2 * parts[0].type.count
                        parts = [builder.shuffle_vector(
                            parts[p], parts[p + 1], ir.Constant(ir.VectorType(i32, width),
                                                                list(range(width))))
                            for p in range(0, len(parts), 2)]
                    qv = parts[0]
                for e in range(bl):
                    i = builder.add(i0, ir.Constant(n.type, e))
                    inside = builder.icmp_signed("<", i, n)
                    with builder.if_then(inside, likely=True):
                        spread = builder.shuffle_vector(qv, qv, spreads[e])
                        word = builder.bitcast(builder.icmp_unsigned("<", nums, spread), i64)
                        word = builder.or_(word, builder.load(builder.gep(farr.data, [i])))
                        builder.store(word, builder.gep(oarr.data, [i]))
            return context.get_dummy_value()

        return sig, codegen

    return lt_slots


_lt_slots1 = _make_lt_slots(1)
_lt_slots2 = _make_lt_slots(2)
_lt_slots4 = _make_lt_slots(4)
_lt_slots8 = _make_lt_slots(8)
_lt_slots16 = _make_lt_slots(16)
_lt_slots32 = _make_lt_slots(32)


@nb.njit(cache=True, inline="always")
def _quantize_bytes(a_row, e, w, q, signs, q8):  # pragma: no cover - numba
    """Quantise one row: q (int32 scratch) and its sign masks ``signs`` as
    :func:`.comparator.quantize_row` writes them, q8[r] = min(q, 255) (uint8). Returns
    (:func:`.comparator.uniform_sign` of the row, whether some q is 256)."""
    rows = a_row.shape[0]
    quantize_row(a_row, e, w, q, signs)
    top = np.int32(0)
    lo = np.int8(0)  # min and max of the sign masks (0 / -1), from the neutral start (0, -1):
    hi = np.int8(-1)  # uniform_sign in this loop: one loop fewer, 12% of conv1's packed streams
    for r in range(rows):
        qr = q[r]
        q8[r] = np.uint8(min(qr, 255))
        top = max(top, qr)
        sr = signs[r]
        lo = min(lo, sr)
        hi = max(hi, sr)
    uniform = np.int8(0) if rows == 0 else (lo if lo == hi else np.int8(1))
    return uniform, top > 255


@nb.njit(cache=True)
def _quantize_again(a_row, e, w, q, signs):  # pragma: no cover - numba
    """:func:`.comparator.quantize_row`, not inlined: the rare rows with a q of 256 (keeps the
    inlined group code small to compile)."""
    quantize_row(a_row, e, w, q, signs)


@nb.njit(cache=True, inline="always")
def _group_side(A, E, R, S, U, F, Q, order, p0, p1, stride, BL, w, q, zero, full, rg, slot_rows,
                out, neg):  # pragma: no cover - numba
    """One side of one group: out[r] (uint64) = the packed streams of row r of the group's
    outer products k_s = order[p0 + s], neg[r] = the ones of the slots s where A[k_s, r] < 0.
    Reads what :func:`_quantize_bytes` left per k: magnitudes Q [K + 1, pitch] (row K all
    zero: a partial group's empty slots, q = 0), sign masks S [K, rows], U [K] uniform signs,
    F [K] whether a q is 256 (those rows are quantised again for their all-ones slots).
    q int32 [>= rows], full uint64 [>= rows], rg uint8 [64], slot_rows int64 [P]: scratch;
    zero uint64 [>= rows] all zero."""
    rows = out.shape[0]
    P = 64 // BL
    ones = (np.uint64(1) << np.uint64(BL)) - np.uint64(1)
    empty = Q.shape[0] - 1
    rg[:] = 0
    for r in range(rows):
        neg[r] = 0
    tops = False
    for s in range(P):
        slot_rows[s] = empty
    for s in range(p1 - p0):
        k = order[p0 + s]
        slot_rows[s] = k
        off = k * stride
        rg[s * BL:(s + 1) * BL] = R[off:off + BL, 0]
        slot = ones << np.uint64(s * BL)
        if U[k] == -1:
            for r in range(rows):
                neg[r] |= slot
        elif U[k] == 1:
            sk = S[k]
            for r in range(rows):
                neg[r] |= slot & np.uint64(np.int64(sk[r]))
        tops = tops or F[k]
    if not tops:
        _lt_slots(BL, rg, Q, slot_rows, zero, out)
        return
    for r in range(rows):
        full[r] = 0
    for s in range(p1 - p0):  # q = 256 (above every number): the slot's bits all ones
        k = order[p0 + s]
        if F[k]:
            _quantize_again(A[k], E[k], w, q, S[k])
            slot = ones << np.uint64(s * BL)
            for r in range(rows):
                full[r] |= slot & np.uint64(-np.int64(q[r] > 255))
    _lt_slots(BL, rg, Q, slot_rows, full, out)


@nb.njit(cache=True)
def _lt_slots(BL, rg, Q, slot_rows, full, out):  # pragma: no cover - numba
    """The ``lt_slots`` intrinsic of :func:`_make_lt_slots` for this BL (one of SLOT_BLS)."""
    if BL == 8:
        _lt_slots8(rg, Q, slot_rows, full, out)
    elif BL == 16:
        _lt_slots16(rg, Q, slot_rows, full, out)
    elif BL == 32:
        _lt_slots32(rg, Q, slot_rows, full, out)
    elif BL == 4:
        _lt_slots4(rg, Q, slot_rows, full, out)
    elif BL == 2:
        _lt_slots2(rg, Q, slot_rows, full, out)
    else:
        _lt_slots1(rg, Q, slot_rows, full, out)


@nb.njit(cache=True)
def _plain_side(a_row, e, R, off, BL, w, word, signs, q):  # pragma: no cover - numba
    """The plain stream of one vector, as :func:`.comparator.streams_both` builds it in
    MODE_MASK for one word (BL <= 64; R has :data:`.comparator.MASK_PAD` rows after the chunk's
    last number): quantise, one 64-number compare per element, bits past BL cleared. Returns the
    vector's :func:`.comparator.uniform_sign`. Compiled once, not inlined: the right-shifted k
    are few, and the general stream builder inlined twice doubled the compile time."""
    n = a_row.shape[0]
    quantize_row(a_row, e, w, q, signs)
    lt_words(R, off, q[:n], word)
    if BL < 64:
        keep = (np.uint64(1) << np.uint64(BL)) - np.uint64(1)
        for i in range(n):
            word[i] &= keep
    return uniform_sign(signs)


#: How each k of a chunk is built by :func:`packed_streams`.
SKIP, GROUPED, PLAIN = 0, 1, 2


@nb.njit(parallel=True, cache=True)
def packed_streams(xa, ex, Rx, da, ed, Rd, order, gstart, kind, stride, BL, w, Xp, NX, Dp, ND,
                   X, Xs, Xu, D, Ds, Qx, Qd, tasks):  # pragma: no cover - numba
    """Packed streams of a chunk's groups, and the plain streams of its right-shifted k.

    xa [K, n], da [K, m] operands; ex, ed [K] int64 exponents; Rx, Rd uint8 random numbers
    [N, 1] (outer product k reads rows k*stride .. k*stride + BL - 1, and the plain streams up
    to :data:`.comparator.MASK_PAD` rows past the chunk's last); order, gstart: the
    groups of :func:`.and_counter.packed_plan` (P = 64 // BL slots, BL in :data:`SLOT_BLS`);
    kind int8 [K]: :data:`GROUPED` for the k in groups, :data:`PLAIN` for the right-shifted k,
    :data:`SKIP` for the inactive ones. Writes Xp, NX uint64 [G, n] and Dp, ND [G, m], what
    :func:`.and_counter.pack_groups` makes of :func:`.comparator.streams_both`'s words; Xs, Xu,
    Ds of every grouped and plain k; X [K, 1, n] and D [K, 1, m] of the plain k. Qx uint8
    [K + 1, >= n rounded up to BL] and Qd [K + 1, >= m rounded up to BL] are scratch whose
    last row is zero.

    Two passes, each split into ``tasks`` contiguous ranges (a few per thread): every k in
    order quantises its rows to bytes (sequential reads of the operands), then every group
    compares its slots' bytes (:func:`_make_lt_slots`), reading the chunk's bytes, not its
    floats, in the groups' order.
    """
    K, n = xa.shape
    m = da.shape[1]
    G = gstart.shape[0] - 1
    P = 64 // BL
    rows = max(n, m)
    # set for the grouped k, read only for them (np.empty: an array expression here would be
    # a parallel loop of its own, scheduled one element at a time under parallel_chunksize(1))
    Fx = np.empty(K, dtype=np.bool_)
    Fd = np.empty(K, dtype=np.bool_)
    Ud = np.empty(K, dtype=np.int8)
    for tk in nb.prange(tasks):
        q = np.empty(rows, dtype=np.int32)
        for k in range(tk * K // tasks, (tk + 1) * K // tasks):
            if kind[k] == GROUPED:
                Xu[k], Fx[k] = _quantize_bytes(xa[k], ex[k], w, q, Xs[k], Qx[k])
                Ud[k], Fd[k] = _quantize_bytes(da[k], ed[k], w, q, Ds[k], Qd[k])
            elif kind[k] == PLAIN:
                Xu[k] = _plain_side(xa[k], ex[k], Rx, k * stride, BL, w, X[k, 0], Xs[k], q)
                _plain_side(da[k], ed[k], Rd, k * stride, BL, w, D[k, 0], Ds[k], q)
    for tk in nb.prange(tasks):
        q = np.empty(rows, dtype=np.int32)
        zero = np.zeros(rows, dtype=np.uint64)
        full = np.empty(rows, dtype=np.uint64)
        rg = np.empty(64, dtype=np.uint8)
        slot_rows = np.empty(P, dtype=np.int64)
        for g in range(tk * G // tasks, (tk + 1) * G // tasks):
            _group_side(xa, ex, Rx, Xs, Xu, Fx, Qx, order, gstart[g], gstart[g + 1], stride, BL,
                        w, q, zero, full, rg, slot_rows, Xp[g], NX[g])
            _group_side(da, ed, Rd, Ds, Ud, Fd, Qd, order, gstart[g], gstart[g + 1], stride, BL,
                        w, q, zero, full, rg, slot_rows, Dp[g], ND[g])


def byte_buffers(cap: int, n: int, m: int, bl: int) -> tuple[np.ndarray, np.ndarray]:
    """Qx, Qd for :func:`packed_streams`: uint8 [cap + 1, n (m) rounded up to bl], the last
    row zero (a partial group's empty slots)."""
    def side(rows):
        return np.zeros((cap + 1, max(bl, -(-rows // bl) * bl)), dtype=np.uint8)

    return side(n), side(m)


def kinds(active: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """kind int8 [K] for :func:`packed_streams`: PLAIN where ``rest``, else GROUPED where
    ``active``, else SKIP (:func:`.and_counter.packed_plan` groups every active k without a
    right shift)."""
    return np.where(rest, PLAIN, np.where(active, GROUPED, SKIP)).astype(np.int8)
