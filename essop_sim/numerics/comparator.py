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

Three ways to build the streams of a vector that shares one random sequence (they give identical
words; tests hold them equal): 'mask' (the default, 'auto') compares one element with 64 numbers
at once, as a single SIMD compare whose lane mask is the packed word (an LLVM vector compare
bitcast to i64: vpcmpgtb + vpmovmskb on AVX2 for w <= 8 numbers stored as bytes), with the 64
numbers loaded once per word and reused for every element; 'table' buckets the BL numbers by
value and prefix-ORs the buckets so that ``table[q]`` is the packed stream of magnitude q for
every q in 0..2^w, then looks each element up; 'direct' compares every element with every number
one cycle at a time. Element sharing always compares directly (each element has its own numbers).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

#: Stream construction modes of :func:`streams_both`.
MODE_TABLE, MODE_DIRECT, MODE_ELEMENT, MODE_MASK = 0, 1, 2, 3
#: Rows of random numbers after a chunk's last one that MODE_MASK may read (their values do not
#: matter): a word of fewer than 64 stream bits (BL % 64 != 0) is then built by one 64-number
#: compare masked to its bits, as fast as a full word, instead of bit by bit.
MASK_PAD = 63


@nb.njit(cache=True, inline="always")
def round_magnitude(y, qmax):  # pragma: no cover - numba
    """q = round-half-up(y) clipped to qmax, for 0 <= y (float64, exact) and qmax = 2^w: the
    comparator's magnitude register (int32)."""
    fl = np.int32(y)
    return min(fl + np.int32(y - fl >= 0.5), qmax)


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
            # exact power-of-two scaling, y <= 2^w
            q_out[i] = round_magnitude(abs(np.float64(a_row[i])) * scale, qmax)
    else:  # 2^sh is not a normal double: scale each element (underflow only gives q = 0)
        for i in range(n):
            q_out[i] = round_magnitude(math.ldexp(abs(np.float64(a_row[i])), sh), qmax)


@intrinsic
def lt_words(typingctx, R, start, q, out):
    """out[i] = packed word of (R.flat[start + t] < q[i]) for t = 0..63, bit t LSB first.

    R: C-contiguous uint8/uint16/uint32 array of random numbers (64 are read from flat index
    ``start``); q: int32 [n] magnitudes in [0, 2^bits] (bits = R's element width; q = 2^bits,
    which the narrow types cannot hold, gives an all-ones word); out: uint64 [n]. The 64 numbers
    are one LLVM vector loaded once; each element costs one vector compare whose i1 lanes are
    bitcast to the i64 word.
    """
    if not (isinstance(R, types.Array) and R.layout == "C"
            and R.dtype in (types.uint8, types.uint16, types.uint32)
            and isinstance(q, types.Array) and q.dtype == types.int32 and q.ndim == 1
            and isinstance(out, types.Array) and out.dtype == types.uint64 and out.ndim == 1
            and isinstance(start, types.Integer)):
        return None
    bits = R.dtype.bitwidth
    sig = types.void(R, start, q, out)

    def codegen(context, builder, signature, args):
        r_ty, _, q_ty, o_ty = signature.args
        rarr = context.make_array(r_ty)(context, builder, args[0])
        qarr = context.make_array(q_ty)(context, builder, args[2])
        oarr = context.make_array(o_ty)(context, builder, args[3])
        ety = ir.IntType(bits)
        i32, i64 = ir.IntType(32), ir.IntType(64)
        vty = ir.VectorType(ety, 64)
        first = context.cast(builder, args[1], signature.args[1], types.intp)
        ptr = builder.gep(rarr.data, [first])
        nums = builder.load(builder.bitcast(ptr, vty.as_pointer()), align=1)
        zeros = ir.Constant(ir.VectorType(i32, 64), [0] * 64)
        undef = ir.Constant(vty, ir.Undefined)
        n = cgutils.unpack_tuple(builder, oarr.shape, 1)[0]
        qstride = cgutils.unpack_tuple(builder, qarr.strides, 1)[0]
        ostride = cgutils.unpack_tuple(builder, oarr.strides, 1)[0]
        with cgutils.for_range(builder, n) as loop:
            i = loop.index
            qp = cgutils.pointer_add(builder, qarr.data, builder.mul(i, qstride))
            qv = builder.load(builder.bitcast(qp, i32.as_pointer()))
            splat = builder.shuffle_vector(
                builder.insert_element(undef, builder.trunc(qv, ety) if bits < 32 else qv,
                                       ir.Constant(i32, 0)), undef, zeros)
            word = builder.bitcast(builder.icmp_unsigned("<", nums, splat), i64)
            if bits < 32:  # q = 2^bits does not fit the lane: every number is below it
                full = builder.icmp_signed(">=", qv, ir.Constant(i32, 1 << bits))
                word = builder.select(full, ir.Constant(i64, -1), word)
            op = cgutils.pointer_add(builder, oarr.data, builder.mul(i, ostride))
            builder.store(word, builder.bitcast(op, i64.as_pointer()))
        return context.get_dummy_value()

    return sig, codegen


@nb.njit(cache=True, inline="always")
def _direct_bits(q, R, col, off, t0, nbits, row):  # pragma: no cover - numba
    """row [n] = packed (R[off + t0 + b, col] < q[i]) for b < nbits (col = -1: element i reads
    column i). The inner loop runs over elements, so it vectorises."""
    n = row.shape[0]
    for i in range(n):
        row[i] = 0
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
def uniform_sign(signs):  # pragma: no cover - numba
    """Whether a vector's signs are uniform, from its sign masks (int8, 0 / -1): 0 if every one
    is 0 (all positive, or no element), -1 if every one is -1, else 1 (mixed), as int8. A ReLU
    layer's inputs are all positive, so their products take their sign from delta alone."""
    n = signs.shape[0]
    if n == 0:
        return np.int8(0)
    lo = signs[0]
    hi = signs[0]
    for i in range(n):
        lo = min(lo, signs[i])
        hi = max(hi, signs[i])
    return lo if lo == hi else np.int8(1)


@nb.njit(cache=True, inline="always")
def _vector_streams(a_row, e, R, off, BL, w, mode, words_k, signs_k, q,
                    tab):  # pragma: no cover - numba
    """Quantise one vector and write its packed streams words_k [W, n] and signs_k [n];
    returns :func:`uniform_sign` of the vector.

    mode MODE_TABLE / MODE_DIRECT / MODE_MASK: shared sequence R[off + t, 0] (R has one column);
    MODE_ELEMENT: element i reads its own sequence R[off + t, i]. MODE_MASK builds a word of
    fewer than 64 bits from a 64-number compare when R has the rows (:data:`MASK_PAD`), else
    bit by bit (the same bits either way). q int32 [>= n] and tab uint64
    [W, 2^w + 1] (MODE_TABLE only) are the caller's scratch buffers.
    """
    n = a_row.shape[0]
    W = words_k.shape[0]
    q = q[:n]
    quantize_row(a_row, e, w, q, signs_k)
    uniform = uniform_sign(signs_k)
    if mode == MODE_TABLE:
        qmax = 1 << w
        tab[:, :] = 0
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
        return uniform
    col = -1 if mode == MODE_ELEMENT else 0
    for wd in range(W):
        t0 = wd * 64
        nbits = min(64, BL - t0)
        if mode == MODE_MASK and (nbits == 64 or off + t0 + 64 <= R.shape[0]):
            # a partial word: 64 compares, the numbers past the stream's end masked off
            lt_words(R, off + t0, q, words_k[wd])
            if nbits < 64:
                keep = (np.uint64(1) << np.uint64(nbits)) - np.uint64(1)
                out = words_k[wd]
                for i in range(n):
                    out[i] &= keep
        else:
            _direct_bits(q, R, col, off, t0, nbits, words_k[wd])
    return uniform


@nb.njit(parallel=True, cache=True)
def streams_both(xa, ex, Rx, mode_x, X, Xs, Xu, da, ed, Rd, mode_d, D, Ds, stride, BL, w,
                 tasks):  # pragma: no cover - numba
    """Streams of x and delta for a chunk of K outer products, in one parallel region.

    xa [K, n], da [K, m] operands (float); ex, ed [K] int64 exponents; Rx, Rd random numbers
    (uint32, or uint8/uint16 when w fits) [N, banks], outer product k using rows
    k*stride .. k*stride + BL - 1 (stride = BL for 'continue', 0 for 'restart'); mode_x, mode_d
    as in :func:`_vector_streams`. Writes words X uint64 [K, W, n], D [K, W, m], sign masks
    Xs int8 [K, n], Ds [K, m], and Xu int8 [K], :func:`uniform_sign` of each x_k. The K outer
    products are split into ``tasks`` contiguous ranges (scratch buffers are allocated once per
    task, not per vector).
    """
    K, n = xa.shape
    m = da.shape[1]
    W = X.shape[1]
    tw = (1 << w) + 1 if mode_x == MODE_TABLE or mode_d == MODE_TABLE else 1
    for tk in nb.prange(tasks):
        q = np.empty(max(n, m), dtype=np.int32)
        tab = np.empty((W, tw), dtype=np.uint64)
        for k in range(tk * K // tasks, (tk + 1) * K // tasks):
            Xu[k] = _vector_streams(xa[k], ex[k], Rx, k * stride, BL, w, mode_x, X[k], Xs[k],
                                    q, tab)
            _vector_streams(da[k], ed[k], Rd, k * stride, BL, w, mode_d, D[k], Ds[k], q, tab)


def number_dtype(width: int, mode_x: int, mode_d: int) -> type:
    """Storage dtype of the random numbers: uint8 when w <= 8 and both sides use MODE_MASK
    (a 64-number vector is then two AVX2 registers), else uint32."""
    return np.uint8 if width <= 8 and mode_x == mode_d == MODE_MASK else np.uint32


#: Ways to build a bitstream (all give identical bits; they differ only in speed).
STREAM_METHODS = ("auto", "mask", "table", "direct")


def stream_mode(method: str, per_element: bool, n: int, width: int, bl: int) -> int:
    """Mode of :func:`streams_both` for one side: MODE_ELEMENT for element sharing, else by
    ``method``: 'auto' and 'mask' -> MODE_MASK, 'table' -> MODE_TABLE, 'direct' -> MODE_DIRECT.
    """
    if method not in STREAM_METHODS:
        raise ValueError(f"stream method {method!r}: expected one of {STREAM_METHODS}")
    if per_element:
        return MODE_ELEMENT
    if method in ("auto", "mask"):
        return MODE_MASK
    return MODE_TABLE if use_table(method, n, width, bl) else MODE_DIRECT


def use_table(method: str, n: int, width: int, bl: int) -> bool:
    """Whether the table beats per-cycle direct compares ('table', 'direct' or 'auto'; the
    'auto' stream construction now uses MODE_MASK, which beats both)."""
    if method == "table":
        return True
    if method == "direct":
        return False
    words = (bl + 63) // 64
    table_words = ((1 << width) + 1) * words
    # Measured (AMD EPYC, w = 8): a table costs about as much as 2/3 of a comparison per
    # element and cycle, per table word and per zeroing + prefix-OR pass over it.
    return table_words <= 1 << 16 and 2 * table_words + bl <= (2 * n * bl) // 3
