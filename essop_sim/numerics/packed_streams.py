"""Short bitstreams built straight into packed words: one compare per element and group.

On the packed fast path the P = 64 // BL outer products of a group share a 64-bit word, outer
product k_s of the group in slot s (bits s BL .. s BL + BL - 1; groups and slots as
:func:`.and_counter.packed_plan` and :func:`.and_counter.pack_groups` define them). Building
every outer product's stream on its own (one 64-number compare per element and outer product,
:func:`.comparator.lt_words`) and packing the words afterwards costs per element and outer
product, whatever BL is. When the slots fill the word exactly (BL 1, 2, 4, 8, 16, 32) and the
random numbers are bytes (comparator width w <= 8, a shared sequence per side), the whole packed
word of an element is one 64-lane compare instead (:func:`packed_streams`):

1. every k of the chunk, in order, quantises its rows as :func:`.comparator.quantize_row` does
   (:func:`_quantize_bytes`, in the row's own float type where that is exact) and keeps, in a
   :class:`SlotBytes` (one row per k), each magnitude as a byte, min(q, 255), and the sign
   masks (read for the rows whose signs are mixed);
2. for each group, lane l = s BL + t of a 64-byte vector holds random number t of slot s's
   outer product, R[k_s stride + t]; for BL consecutive elements, the P slots' BL bytes are
   loaded into one vector (slot-major) and each element's lanes are one constant shuffle of it
   (lane l takes slot l // BL's byte of that element); the lanes' ``r < q`` bits are the packed
   word, bit l = lane l: bit s BL + t is stream bit t of k_s, what ``lt_words`` computes slot
   by slot, so the words are identical. The negative-slot words come from the sign bytes the
   same way, or are one word for the whole row when no slot's signs are mixed.

A magnitude q = 2^w = 256 does not fit a byte: it is stored as 255 and its slot's BL bits are
set afterwards (q = 256 is above every 8-bit number, so its stream is all ones). Slots of a last,
partial group read an all-zero row of Q, so they stay zero. Results are bit-identical to
building the streams with :func:`.comparator.streams_both` and packing them with
:func:`.and_counter.pack_groups` (NX in full where a group's x signs are mixed, NX[g, 0]
otherwise: the only word of it the accumulation reads; tests/test_packed_streams.py).
docs/numerics-essop.md, "Streams built packed", specifies it bit for bit.
"""

from __future__ import annotations

import dataclasses

import numba as nb
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

from .comparator import MODE_MASK, lt_words, quantize_row, uniform_sign
from .shift_scaler import FORMAT

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
    """An intrinsic ``lt_slots(R, roffs, Q, S, rows, srows, mixed, negc, out, neg)`` for one
    BL: out[i] = packed word of (R.flat[roffs[l // bl] + l % bl] < Q[rows[l // bl], i]) over
    lanes l = 0..63; neg[i] = packed word of (S[srows[l // bl], i] < 0) if ``mixed``, else
    neg[0] = ``negc`` and the other neg[i] are not written.

    R: C-contiguous uint8 random numbers, roffs: int64 [P] where each slot's bl numbers start
    (flat index); Q: C-contiguous uint8 [.., pitch] magnitudes and S: int8 [.., spitch] sign
    masks (pitches >= n rounded up to bl: columns past n are read, their words not stored);
    rows, srows: int64 [P] the row of Q and of S of each slot (P = 64 // bl);
    mixed: bool; negc: uint64; out, neg: uint64 [n] (n = out's length).
    Elements go bl at a time: the P slot rows' bl bytes are loaded (P loads) into one 64-byte
    vector, slot-major, and each element's 64 lanes are one constant shuffle of it (lane l takes
    slot l // bl's byte), then one 64-lane compare whose i1 lanes bitcast to the word; the sign
    bytes the same way when ``mixed``. For bl < 8, eight elements at a time instead: one 8-byte
    load per slot, and each element's lanes merged from those vectors by two-input shuffles
    (one insert per slot and element had cost 64 per word at bl = 1).
    """
    slots = 64 // bl

    def is_c(arr, dtype, ndim):
        return (isinstance(arr, types.Array) and arr.dtype == dtype and arr.ndim == ndim
                and arr.layout == "C")

    @intrinsic
    def lt_slots(typingctx, R, roffs, Q, S, rows, srows, mixed, negc, out, neg):
        if not (is_c(R, types.uint8, 2) and is_c(roffs, types.int64, 1)
                and is_c(Q, types.uint8, 2) and is_c(S, types.int8, 2)
                and is_c(rows, types.int64, 1) and is_c(srows, types.int64, 1)
                and isinstance(mixed, types.Boolean)
                and negc == types.uint64
                and is_c(out, types.uint64, 1) and is_c(neg, types.uint64, 1)):
            return None
        sig = types.void(R, roffs, Q, S, rows, srows, mixed, negc, out, neg)

        def codegen(context, builder, signature, args):
            from numba.core import cgutils

            rarr, offarr, qarr, sarr, rowarr, srowarr = (context.make_array(signature.args[a])(
                context, builder, args[a]) for a in range(6))
            oarr, narr = (context.make_array(signature.args[a])(context, builder, args[a])
                          for a in (8, 9))
            mixed, negc = args[6], args[7]
            i8, i32, i64 = ir.IntType(8), ir.IntType(32), ir.IntType(64)
            lanes = ir.VectorType(i8, 64)

            def slot_values(arr):
                return [builder.load(builder.gep(arr.data, [ir.Constant(i64, s)]))
                        for s in range(slots)]

            def row_bases(arr, rows):
                base = builder.bitcast(arr.data, i8.as_pointer())
                pitch = cgutils.unpack_tuple(builder, arr.shape, 2)[1]
                return [builder.gep(base, [builder.mul(r, pitch)]) for r in slot_values(rows)]

            qbases, sbases = row_bases(qarr, rowarr), row_bases(sarr, srowarr)
            rbase = builder.bitcast(rarr.data, i8.as_pointer())
            rbases = [builder.gep(rbase, [off]) for off in slot_values(offarr)]

            def load_slots(bases, i0):
                """The P slots' bl bytes of elements i0 .. i0 + bl - 1, slot-major."""
                if bl <= 8:  # slots as integer elements of one vector (i8 .. i64)
                    chunk = ir.IntType(8 * bl)
                    vec = ir.Constant(ir.VectorType(chunk, slots), ir.Undefined)
                    for s in range(slots):
                        ptr = builder.bitcast(builder.gep(bases[s], [i0]), chunk.as_pointer())
                        vec = builder.insert_element(vec, builder.load(ptr, align=1),
                                                     ir.Constant(i32, s))
                    return builder.bitcast(vec, lanes)
                # 16 or 32 bytes per slot: byte vectors, concatenated (no i128 / i256)
                parts = [builder.load(builder.bitcast(builder.gep(bases[s], [i0]),
                                                      ir.VectorType(i8, bl).as_pointer()),
                                      align=1) for s in range(slots)]
                while len(parts) > 1:
                    width = 2 * parts[0].type.count
                    parts = [builder.shuffle_vector(
                        parts[p], parts[p + 1], ir.Constant(ir.VectorType(i32, width),
                                                            list(range(width))))
                        for p in range(0, len(parts), 2)]
                return parts[0]

            nums = load_slots(rbases, ir.Constant(i64, 0))
            n = cgutils.unpack_tuple(builder, oarr.shape, 1)[0]
            blocks = builder.udiv(builder.add(n, ir.Constant(n.type, bl - 1)),
                                  ir.Constant(n.type, bl))
            # lane l of element e's vector = slot-major lane (l // bl) * bl + e
            spreads = [ir.Constant(ir.VectorType(i32, 64), [(lane // bl) * bl + e
                                                           for lane in range(64)])
                       for e in range(bl)]
            zeros = ir.Constant(lanes, [0] * 64)

            def block(i0, signs):
                """Elements i0 .. i0 + bl - 1 (those below n): out, and neg from the sign
                bytes (``signs``) or negc."""
                qv = load_slots(qbases, i0)
                sv = load_slots(sbases, i0) if signs else None
                for e in range(bl):
                    i = builder.add(i0, ir.Constant(n.type, e))
                    inside = builder.icmp_signed("<", i, n)
                    with builder.if_then(inside, likely=True):
                        spread = builder.shuffle_vector(qv, qv, spreads[e])
                        word = builder.bitcast(builder.icmp_unsigned("<", nums, spread), i64)
                        builder.store(word, builder.gep(oarr.data, [i]))
                        if signs:
                            spread = builder.shuffle_vector(sv, sv, spreads[e])
                            nword = builder.bitcast(builder.icmp_signed("<", spread, zeros),
                                                    i64)
                            builder.store(nword, builder.gep(narr.data, [i]))

            def eight_elements(bases, i0):
                """Slots' bytes of elements i0 .. i0 + 7 (bl < 8): vectors of eight slots'
                8-byte pieces, slot-major (vector v, lane 8 s' + e: slot 8 v + s', element e)."""
                piece = ir.VectorType(i64, 8)
                vecs = []
                for v in range(slots // 8):
                    vec = ir.Constant(piece, ir.Undefined)
                    for sv in range(8):
                        ptr = builder.bitcast(builder.gep(bases[8 * v + sv], [i0]),
                                              i64.as_pointer())
                        vec = builder.insert_element(vec, builder.load(ptr, align=1),
                                                     ir.Constant(i32, sv))
                    vecs.append(builder.bitcast(vec, lanes))
                return vecs

            def lanes_of(vecs, e):
                """Element e's 64 lanes, lane l <- slot l // bl's byte of element e, which is
                byte (8 (l // bl) + e) mod 64 of vector (8 (l // bl) + e) // 64: merged from the
                vectors (two or more) one two-input shuffle at a time."""
                where = [divmod(8 * (lane // bl) + e, 64) for lane in range(64)]
                out = vecs[0]
                for v in range(1, len(vecs)):
                    # lanes of vector v from the second input; the others keep what the first
                    # input has there (vecs[0]'s bytes in the first merge, then the result)
                    mask = [b + 64 if src == v else (b if v == 1 and src == 0 else lane)
                            for lane, (src, b) in enumerate(where)]
                    out = builder.shuffle_vector(out, vecs[v],
                                                 ir.Constant(ir.VectorType(i32, 64), mask))
                return out

            def wide_block(i0, signs):
                """Elements i0 .. i0 + 7 (those below n), for bl < 8."""
                qvecs = eight_elements(qbases, i0)
                svecs = eight_elements(sbases, i0) if signs else None
                for e in range(8):
                    i = builder.add(i0, ir.Constant(n.type, e))
                    inside = builder.icmp_signed("<", i, n)
                    with builder.if_then(inside, likely=True):
                        word = builder.bitcast(builder.icmp_unsigned(
                            "<", nums, lanes_of(qvecs, e)), i64)
                        builder.store(word, builder.gep(oarr.data, [i]))
                        if signs:
                            nword = builder.bitcast(builder.icmp_signed(
                                "<", lanes_of(svecs, e), zeros), i64)
                            builder.store(nword, builder.gep(narr.data, [i]))

            if bl < 8:  # eight elements a block: 8-byte loads instead of bl-byte inserts
                blocks = builder.udiv(builder.add(n, ir.Constant(n.type, 7)),
                                      ir.Constant(n.type, 8))
                block, step = wide_block, 8
            else:
                step = bl

            with builder.if_else(mixed) as (with_signs, uniform):
                with with_signs, cgutils.for_range(builder, blocks) as loop:
                    block(builder.mul(loop.index, ir.Constant(n.type, step)), True)
                with uniform:
                    with cgutils.for_range(builder, blocks) as loop:
                        block(builder.mul(loop.index, ir.Constant(n.type, step)), False)
                    with builder.if_then(builder.icmp_signed(">", n, ir.Constant(n.type, 0))):
                        builder.store(negc, narr.data)
            return context.get_dummy_value()

        return sig, codegen

    return lt_slots


_lt_slots1 = _make_lt_slots(1)
_lt_slots2 = _make_lt_slots(2)
_lt_slots4 = _make_lt_slots(4)
_lt_slots8 = _make_lt_slots(8)
_lt_slots16 = _make_lt_slots(16)
_lt_slots32 = _make_lt_slots(32)


def _as_element(a, v):
    """v converted to the element type of array a (in numba code: the overload below)."""
    return a.dtype.type(v)


@overload(_as_element, jit_options={"cache": True})
def _as_element_impl(a, v):
    element = a.dtype

    def impl(a, v):
        return element(v)

    return impl


@intrinsic
def _power_of_two(typingctx, a, sh):
    """2^sh in the float type of array a (float32 or float64) if it is a normal number of that
    type, else 0: built from its bits (sh + bias) << fraction bits, no libm call."""
    if not (isinstance(a, types.Array) and a.dtype in (types.float32, types.float64)
            and isinstance(sh, types.Integer)):
        return None
    width = a.dtype.bitwidth
    fraction, bias = FORMAT[np.dtype(str(a.dtype))]

    def codegen(context, builder, signature, args):
        ity = ir.IntType(width)
        fty = ir.FloatType() if width == 32 else ir.DoubleType()
        s = context.cast(builder, args[1], signature.args[1], types.int64)
        i64 = ir.IntType(64)
        normal = builder.and_(builder.icmp_signed(">=", s, ir.Constant(i64, 1 - bias)),
                              builder.icmp_signed("<=", s, ir.Constant(i64, bias)))
        bits = builder.shl(builder.add(s, ir.Constant(i64, bias)), ir.Constant(i64, fraction))
        value = builder.bitcast(builder.trunc(bits, ity) if width == 32 else bits, fty)
        return builder.select(normal, value, ir.Constant(fty, 0.0))

    return a.dtype(a, sh), codegen


@nb.njit(cache=True, inline="always")
def _scaled(a_row, scale, w, sg, q8):  # pragma: no cover - numba
    """:func:`_quantize_bytes`' loop for rows shorter than a vector (:func:`_scaled_vectors`),
    when 2^(w - e) = ``scale`` is exact in the row's float type: sg[i] sign masks, q8[i] =
    min(q_i, 255); returns (whether a q is 2^w = 256, whether an element is negative, whether
    one is not). q stays in the float type (an integer <= 2^w, exact) and the reductions are
    boolean ORs."""
    one = _as_element(a_row, 1.0)
    half = _as_element(a_row, 0.5)
    zero = _as_element(a_row, 0.0)
    qmax = _as_element(a_row, 1 << w)
    top = _as_element(a_row, 255.0)
    full = False
    negative = False
    positive = False
    for i in range(a_row.shape[0]):
        v = a_row[i]
        neg = v < 0  # -0.0 < 0 is False: positive
        sg[i] = -np.int8(neg)
        negative |= neg
        positive |= not neg
        y = abs(v) * scale
        fl = _as_element(a_row, np.int32(y))  # floor(y), y >= 0
        qf = min(fl + (one if y - fl >= half else zero), qmax)
        q8[i] = np.uint8(min(qf, top))
        full |= qf > top
    return full, negative, positive


#: Flags of :func:`_scaled_vectors`: some q is 2^w = 256; some element is negative; some is not.
_FULL, _NEGATIVE, _POSITIVE = 1, 2, 4


@intrinsic
def _scaled_vectors(typingctx, a_row, scale, qmax, q8, s8):
    """:func:`_quantize_bytes`' loop for a row of at least one vector (L = 512 / element bits
    lanes: 16 float32, 8 float64), when 2^(w - e) = ``scale`` is exact in the row's float type:
    q8[i] = min(q_i, 255) (uint8), s8[i] = sign mask (int8 0 / -1), q_i = min(floor(y_i) +
    (y_i - floor(y_i) >= 0.5), qmax), y_i = |a_i| scale; returns the flags _FULL | _NEGATIVE |
    _POSITIVE that hold (uint8). Vectors of L elements, the last one ending at the row's end
    (overlapping the one before when L does not divide n; its elements are written twice, the
    same), so no element goes through a scalar remainder loop: numba's loop, vectorised L x 4
    wide with a scalar remainder, ran every element of a 16- or 27-element row and the last 16
    of a 144-element row one at a time (3-5x slower on those rows)."""
    def c_row(arr, dtype):
        return (isinstance(arr, types.Array) and arr.ndim == 1 and arr.layout == "C"
                and arr.dtype == dtype)

    if not (isinstance(a_row, types.Array) and a_row.ndim == 1 and a_row.layout == "C"
            and a_row.dtype in (types.float32, types.float64) and scale == a_row.dtype
            and isinstance(qmax, types.Integer) and c_row(q8, types.uint8)
            and c_row(s8, types.int8)):
        return None
    width = a_row.dtype.bitwidth
    lanes = 512 // width

    def codegen(context, builder, signature, args):
        from numba.core import cgutils

        row, qbytes, sbytes = (context.make_array(signature.args[a])(context, builder, args[a])
                               for a in (0, 3, 4))
        i1, i8, i32 = ir.IntType(1), ir.IntType(8), ir.IntType(32)
        fvec = ir.VectorType(args[1].type, lanes)
        ivec = ir.VectorType(ir.IntType(width), lanes)
        qvec, bvec = ir.VectorType(i32, lanes), ir.VectorType(i8, lanes)
        flags = ir.VectorType(i1, lanes)

        def splat(value, vty):
            one = builder.insert_element(ir.Constant(vty, ir.Undefined), value,
                                         ir.Constant(i32, 0))
            return builder.shuffle_vector(one, one, ir.Constant(qvec, [0] * lanes))

        scale = splat(args[1], fvec)
        qmax = splat(context.cast(builder, args[2], signature.args[2], types.int32), qvec)
        magnitude = ir.Constant(ivec, [(1 << (width - 1)) - 1] * lanes)
        zero, half = ir.Constant(fvec, [0.0] * lanes), ir.Constant(fvec, [0.5] * lanes)
        top = ir.Constant(qvec, [255] * lanes)
        seen = [cgutils.alloca_once_value(builder, ir.Constant(flags, [0] * lanes))
                for _ in range(3)]  # full, negative, positive lanes so far

        def vector(i0):
            """Elements i0 .. i0 + lanes - 1."""
            v = builder.load(builder.bitcast(builder.gep(row.data, [i0]), fvec.as_pointer()),
                             align=width // 8)
            neg = builder.fcmp_ordered("<", v, zero)  # -0.0 < 0 is false: positive
            builder.store(builder.sext(neg, bvec), builder.bitcast(
                builder.gep(sbytes.data, [i0]), bvec.as_pointer()), align=1)
            y = builder.fmul(builder.bitcast(builder.and_(builder.bitcast(v, ivec), magnitude),
                                             fvec), scale)  # |a| 2^(w - e), exact, <= 2^w
            floor = builder.fptosi(y, qvec)  # y >= 0
            up = builder.fcmp_ordered(">=", builder.fsub(y, builder.sitofp(floor, fvec)), half)
            q = builder.add(floor, builder.zext(up, qvec))
            q = builder.select(builder.icmp_signed(">", q, qmax), qmax, q)
            full = builder.icmp_signed(">", q, top)
            builder.store(builder.trunc(builder.select(full, top, q), bvec), builder.bitcast(
                builder.gep(qbytes.data, [i0]), bvec.as_pointer()), align=1)
            for acc, lanes_set in zip(seen, (full, neg, builder.not_(neg)), strict=True):
                builder.store(builder.or_(builder.load(acc), lanes_set), acc)

        n = cgutils.unpack_tuple(builder, row.shape, 1)[0]
        step = ir.Constant(n.type, lanes)
        with cgutils.for_range(builder, builder.sdiv(n, step)) as loop:
            vector(builder.mul(loop.index, step))
        with builder.if_then(builder.icmp_signed("!=", builder.srem(n, step),
                                                 ir.Constant(n.type, 0))):
            vector(builder.sub(n, step))
        mask = ir.IntType(lanes)
        out = ir.Constant(i8, 0)
        for acc, bit in zip(seen, (_FULL, _NEGATIVE, _POSITIVE), strict=True):
            some = builder.icmp_unsigned("!=", builder.bitcast(builder.load(acc), mask),
                                         ir.Constant(mask, 0))
            out = builder.or_(out, builder.select(some, ir.Constant(i8, bit), ir.Constant(i8, 0)))
        return out

    return types.uint8(a_row, scale, qmax, q8, s8), codegen


@nb.njit(cache=True, inline="always")
def _quantize_bytes(a_row, e, w, q, sg, q8, s8):  # pragma: no cover - numba
    """Quantise one row as :func:`.comparator.quantize_row` does: q8[i] = min(q_i, 255)
    (uint8) and s8[i] = its sign mask (int8 0 / -1), written at least when the row's signs are
    mixed (also for other rows that fill a vector; not read for them). q (int32) and sg (int8)
    are scratch of at least the row's length. Returns (:func:`.comparator.uniform_sign` of the
    row, whether some q is 2^w = 256).

    When 2^(w - e) is a normal number of the row's float type (float32 rows: -126 <= w - e <=
    127), the row is scaled in that type, in vectors (:func:`_scaled_vectors`; rows shorter
    than a vector: :func:`_scaled`): |a| 2^(w - e) <= 2^w is exact there as in float64 (a
    power-of-two scaling that does not overflow; a result small enough to lose bits is below
    0.5 either way, so q = 0), and so is y - floor(y) (Sterbenz), so q is quantize_row's, bit
    for bit, with twice the vector lanes for float32. Otherwise quantize_row itself runs."""
    n = a_row.shape[0]
    sh = w - e
    scale = _power_of_two(a_row, sh)
    in_s8 = scale != 0 and n * a_row.itemsize >= 64  # sign masks written straight to s8
    if in_s8:
        found = _scaled_vectors(a_row, scale, 1 << w, q8, s8)
        full = (found & _FULL) != 0
        negative = (found & _NEGATIVE) != 0
        positive = (found & _POSITIVE) != 0
    elif scale != 0:
        full, negative, positive = _scaled(a_row, scale, w, sg, q8)
    else:
        quantize_row(a_row, e, w, q, sg)
        full = False
        negative = False
        positive = False
        for i in range(n):
            qi = q[i]
            q8[i] = np.uint8(min(qi, 255))
            full |= qi > 255
            negative |= sg[i] != 0
            positive |= sg[i] == 0
    uniform = np.int8(-1) if not positive and n > 0 else np.int8(1 if negative else 0)
    if uniform == 1 and not in_s8:
        for i in range(n):
            s8[i] = sg[i]
    return uniform, full


@nb.njit(cache=True)
def _quantize_again(a_row, e, w, q, signs):  # pragma: no cover - numba
    """:func:`.comparator.quantize_row`, not inlined: the rare rows with a q of 256 (keeps the
    inlined group code small to compile)."""
    quantize_row(a_row, e, w, q, signs)


@nb.njit(cache=True, inline="always")
def _group_slots(order, p0, p1, stride, empty, slot_rows, offsets):  # pragma: no cover - numba
    """The slots of the group of outer products k_s = order[p0 + s], both sides: slot_rows[s] =
    k_s (``empty``, an all-zero row, for the slots past p1 - p0) and offsets[s] = k_s stride,
    where its random numbers start (0 for an empty slot: any numbers, its q is 0)."""
    for s in range(slot_rows.shape[0]):
        slot_rows[s] = empty
        offsets[s] = 0
    for s in range(p1 - p0):
        k = order[p0 + s]
        slot_rows[s] = k
        offsets[s] = k * stride


@nb.njit(cache=True, inline="always")
def _full_slots(A, E, T, order, p0, p1, BL, w, q, sg, full):  # pragma: no cover - numba
    """Whether a slot of the group k_s = order[p0 + s] has a q of 2^w = 256 (T[k_s]); if so,
    full[r] (uint64 [>= rows]) = the ones of the slots s where row r's q is 256 (quantised
    again from A[k_s] with exponent E[k_s]: q = 256 is above every 8-bit number, so its stream
    is all ones, where the byte 255 would miss r = 255). q int32, sg int8: scratch."""
    tops = False
    for s in range(p1 - p0):
        tops = tops or T[order[p0 + s]]
    if not tops:
        return False
    rows = A.shape[1]
    ones = (np.uint64(1) << np.uint64(BL)) - np.uint64(1)
    for r in range(rows):
        full[r] = 0
    for s in range(p1 - p0):
        k = order[p0 + s]
        if T[k]:
            _quantize_again(A[k], E[k], w, q, sg)
            slot = ones << np.uint64(s * BL)
            for r in range(rows):
                full[r] |= slot & np.uint64(-np.int64(q[r] > 255))
    return True


@nb.njit(cache=True, inline="always")
def _group_side(R, Q, S, U, order, p0, p1, BL, tops, full, offsets, slot_rows, sign_rows, out,
                neg, all_neg):  # pragma: no cover - numba
    """One side of one group: out[r] (uint64) = the packed streams of row r of the group's
    outer products k_s = order[p0 + s] (OR full[r] if ``tops``, :func:`_full_slots`), neg[r] = the
    ones of the slots s where element r of k_s is negative (when no slot's signs are mixed, the
    same word for every r: then only neg[0] unless ``all_neg``); returns whether a slot's signs
    are mixed. Reads what :func:`_quantize_bytes` left for k (:class:`SlotBytes` Q, S, U, row
    k): the magnitudes, the sign masks of the rows with mixed signs and the uniform signs;
    offsets and slot_rows from :func:`_group_slots`; sign_rows int64 [P]: scratch."""
    ones = (np.uint64(1) << np.uint64(BL)) - np.uint64(1)
    zero_row = Q.shape[0] - 1  # all zero in Q and S
    minus_row = zero_row + 1  # all -1 in S
    negc = np.uint64(0)  # the negative slots when no slot's signs are mixed
    mixed = False
    for s in range(sign_rows.shape[0]):
        sign_rows[s] = zero_row
    for s in range(p1 - p0):
        k = order[p0 + s]
        if U[k] == -1:
            negc |= ones << np.uint64(s * BL)
            sign_rows[s] = minus_row
        elif U[k] == 1:
            mixed = True
            sign_rows[s] = k
    if all_neg and not mixed:
        for r in range(out.shape[0]):
            neg[r] = negc
    # one call site: the intrinsics of every BL are inlined here
    _lt_slots(BL, R, offsets, Q, S, slot_rows, sign_rows, mixed, negc, out, neg)
    if tops:
        for r in range(out.shape[0]):
            out[r] |= full[r]
    return mixed


@nb.njit(cache=True, inline="always")
def _lt_slots(BL, R, offs, Q, S, rows, srows, mixed, negc, out, neg):  # pragma: no cover - numba
    """The ``lt_slots`` intrinsic of :func:`_make_lt_slots` for this BL (one of SLOT_BLS)."""
    if BL == 8:
        _lt_slots8(R, offs, Q, S, rows, srows, mixed, negc, out, neg)
    elif BL == 16:
        _lt_slots16(R, offs, Q, S, rows, srows, mixed, negc, out, neg)
    elif BL == 32:
        _lt_slots32(R, offs, Q, S, rows, srows, mixed, negc, out, neg)
    elif BL == 4:
        _lt_slots4(R, offs, Q, S, rows, srows, mixed, negc, out, neg)
    elif BL == 2:
        _lt_slots2(R, offs, Q, S, rows, srows, mixed, negc, out, neg)
    else:
        _lt_slots1(R, offs, Q, S, rows, srows, mixed, negc, out, neg)


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


@nb.njit(parallel=True, cache=True)
def packed_streams(xa, ex, Rx, da, ed, Rd, order, gstart, active, rest, stride, BL, w, Xp, NX,
                   Dp, ND, gu, X, Xs, D, Ds, Qx, Sx, Ux, Tx, Qd, Sd, Ud, Td,
                   tasks):  # pragma: no cover - numba
    """Packed streams of a chunk's groups, and the plain streams of its right-shifted k.

    xa [K, n], da [K, m] operands; ex, ed [K] int64 exponents; Rx, Rd uint8 random numbers
    [N, 1] (outer product k reads rows k*stride .. k*stride + BL - 1, and the plain streams up
    to :data:`.comparator.MASK_PAD` rows past the chunk's last); order, gstart: the
    groups of :func:`.and_counter.packed_plan` (P = 64 // BL slots, BL in :data:`SLOT_BLS`);
    active, rest bool [K]: the active k, and those of them with a right shift (plain streams;
    the others are in groups). Writes Xp, NX uint64 [G, n] and Dp, ND [G, m], what
    :func:`.and_counter.pack_groups` makes of :func:`.comparator.streams_both`'s words; X
    [K, 1, n], Xs [K, n] and D, Ds of the plain k; gu int8 [G], 1 where no slot of the group
    has mixed x signs (:func:`.and_counter.group_uniform`; NX[g] is then the same word for
    every element, and only NX[g, 0], the one :func:`.and_counter.accumulate_packed` reads, is
    written); and per side (x; d alike) the arrays of a :class:`SlotBytes` for the chunk: Qx,
    Sx, Ux (also of the plain k), Tx, scratch written by the first pass and read by the
    second.

    Two passes, each split into ``tasks`` contiguous ranges (a few per thread): every k in
    order quantises its rows to bytes (sequential reads of the operands), then every group
    compares its slots' bytes (:func:`_make_lt_slots`), reading bytes, not floats, in the
    groups' order.
    """
    K, n = xa.shape
    m = da.shape[1]
    G = gstart.shape[0] - 1
    P = 64 // BL
    rows = max(n, m)
    for tk in nb.prange(tasks):
        q = np.empty(rows, dtype=np.int32)
        sg = np.empty(rows, dtype=np.int8)
        for k in range(tk * K // tasks, (tk + 1) * K // tasks):
            if not active[k]:
                continue
            if not rest[k]:
                Ux[k], Tx[k] = _quantize_bytes(xa[k], ex[k], w, q, sg, Qx[k], Sx[k])
                Ud[k], Td[k] = _quantize_bytes(da[k], ed[k], w, q, sg, Qd[k], Sd[k])
            else:
                Ux[k] = _plain_side(xa[k], ex[k], Rx, k * stride, BL, w, X[k, 0], Xs[k], q)
                _plain_side(da[k], ed[k], Rd, k * stride, BL, w, D[k, 0], Ds[k], q)
    for tk in nb.prange(tasks):
        q = np.empty(rows, dtype=np.int32)
        sg = np.empty(rows, dtype=np.int8)
        full = np.empty(rows, dtype=np.uint64)
        offsets = np.empty(P, dtype=np.int64)
        slot_rows = np.empty(P, dtype=np.int64)
        sign_rows = np.empty(P, dtype=np.int64)
        for g in range(tk * G // tasks, (tk + 1) * G // tasks):
            _group_slots(order, gstart[g], gstart[g + 1], stride, Qx.shape[0] - 1, slot_rows,
                         offsets)
            for side in range(2):  # one call site (x, then d): half the code to compile
                x_side = side == 0
                if x_side:  # (the operands' dtypes may differ: one call each)
                    tops = _full_slots(xa, ex, Tx, order, gstart[g], gstart[g + 1], BL, w, q,
                                       sg, full)
                else:
                    tops = _full_slots(da, ed, Td, order, gstart[g], gstart[g + 1], BL, w, q,
                                       sg, full)
                mixed = _group_side(Rx if x_side else Rd, Qx if x_side else Qd,
                                    Sx if x_side else Sd, Ux if x_side else Ud, order,
                                    gstart[g], gstart[g + 1], BL, tops, full,
                                    offsets, slot_rows, sign_rows, Xp[g] if x_side else Dp[g],
                                    NX[g] if x_side else ND[g], not x_side)
                if x_side:
                    gu[g] = 0 if mixed else 1


@dataclasses.dataclass
class SlotBytes:
    """One side's bytes for :func:`packed_streams`, for k = 0 .. rows - 1 (row k of Q and S).

    Q uint8 [rows + 1, pitch]: magnitudes min(q, 255), row ``rows`` all zero (a partial
    group's empty slots); S int8 [rows + 2, pitch]: sign masks (0 / -1), read only for the rows
    whose signs are mixed (others may be written), row ``rows`` all 0 and row ``rows + 1`` all -1
    (the uniform rows' signs); U int8 [rows] uniform signs (:func:`.comparator.uniform_sign`);
    T bool [rows] whether some q is 2^w = 256. pitch: the row width rounded up to max(BL, 8),
    since the compares read that many elements at a time."""

    Q: np.ndarray
    S: np.ndarray
    U: np.ndarray
    T: np.ndarray

    @classmethod
    def empty(cls, rows: int, width: int, bl: int) -> SlotBytes:
        """Arrays for ``rows`` outer products of ``width`` elements, the fixed rows set."""
        unit = max(bl, 8)  # the compares read bl (at least 8) elements at a time
        pitch = max(unit, -(-width // unit) * unit)
        out = cls(np.empty((rows + 1, pitch), dtype=np.uint8),
                  np.empty((rows + 2, pitch), dtype=np.int8),
                  np.empty(rows, dtype=np.int8), np.empty(rows, dtype=np.bool_))
        out.Q[rows] = 0
        out.S[rows] = 0
        out.S[rows + 1] = -1
        return out
