"""Power-of-two shift scaler: maps unbounded operand magnitudes into [0, 1] by exact shifts.

The exponent of a vector v is the smallest integer e with max|v| <= 2^e, computed exactly from
``frexp`` (max|v| = f * 2^x with f in [0.5, 1): e = x - 1 if f == 0.5 else x); no logarithm, so no
rounding. The scaled magnitude is u = |v| * 2^-e in [0, 1], an exact power-of-two scaling (the
shift the hardware applies). An all-zero vector has no exponent: it is reported as 0 and flagged
as zero so that it does not enter the common exponent E of the accumulator.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from . import check_finite
from .threads import for_threads


@nb.njit(cache=True, inline="always")
def _one_row_bits(row, absmask):  # pragma: no cover - numba
    """max over i of (row[i] & absmask): the bit pattern of max |v| for IEEE floats viewed as
    integers (non-negative floats order like their bit patterns; NaN and Inf patterns exceed
    every finite one). An integer max reduction vectorises, unlike a float max."""
    mx = row.dtype.type(0)  # |v| patterns are non-negative; an empty row has max 0
    for i in range(row.shape[0]):
        b = row[i] & absmask
        mx = b if b > mx else mx
    return mx


#: Elements below which :func:`_row_max_bits` runs on the calling thread alone.
ROW_MAX_SERIAL = 1 << 20


@nb.njit(parallel=True, cache=True)
def _row_max_bits(bits, absmask, out):  # pragma: no cover - numba
    """Per row k: out[k] = bit pattern of max_i |a[k, i]|, for ``bits`` = a.view(int) [K, n].

    Runs on the calling thread alone below ROW_MAX_SERIAL elements (a parallel region costs
    more)."""
    K, n = bits.shape
    if K * n < ROW_MAX_SERIAL:
        for k in range(K):
            out[k] = _one_row_bits(bits[k], absmask)
    else:
        for k in nb.prange(K):
            out[k] = _one_row_bits(bits[k], absmask)


#: (integer view dtype, |v| mask, smallest non-finite |v| pattern) per float dtype.
_BITS = {np.dtype(np.float32): (np.int32, np.int32(0x7FFFFFFF), 0x7F800000),
         np.dtype(np.float64): (np.int64, np.int64(0x7FFFFFFFFFFFFFFF), 0x7FF0000000000000)}


@nb.njit(cache=True)
def exponent_of(mx):  # pragma: no cover - numba
    """Smallest integer e with mx <= 2^e for mx > 0 (exact); 0 for mx == 0."""
    if mx == 0.0:
        return 0
    f, x = math.frexp(mx)
    return x - 1 if f == 0.5 else x


#: (fraction bits, exponent bias) per float dtype, for :func:`exponent_of_bits`.
FORMAT = {np.dtype(np.float32): (23, 127), np.dtype(np.float64): (52, 1023)}


@nb.njit(cache=True, inline="always")
def exponent_of_bits(b, fraction, bias):  # pragma: no cover - numba
    """:func:`exponent_of` of a finite |v| given as its bit pattern b (a non-negative integer
    of a float format with ``fraction`` fraction bits and exponent ``bias``, :data:`FORMAT`), in
    integer operations (no frexp call per row, no float view of the pattern).

    |v| = M 2^X with M = 2^fraction + f, X = biased - bias - fraction (normal) or M = f,
    X = 1 - bias - fraction (subnormal); the smallest e with |v| <= 2^e is X plus the bit
    length of M - 1: for a normal number biased - bias, plus 1 unless f = 0."""
    if b == 0:
        return 0
    biased = b >> fraction
    f = b - (biased << fraction)
    if biased > 0:
        return biased - bias + (1 if f != 0 else 0)
    t = f - 1
    length = 0
    while t > 0:
        t >>= 1
        length += 1
    return length + 1 - bias - fraction


def kernel_array(a: np.ndarray) -> np.ndarray:
    """A C-contiguous float32/float64 view or copy of an operand chunk (others -> float64)."""
    if a.dtype != np.float32 and a.dtype != np.float64:
        return np.ascontiguousarray(a, dtype=np.float64)
    return np.ascontiguousarray(a)


def row_max_abs(a: np.ndarray, name: str, chunk: int) -> np.ndarray:
    """max_i |a[k, i]| per row as float64 [K], read in chunks of ``chunk`` rows.

    float32 and float64 chunks are read once, in place, as integer bit patterns (max |v| is the
    max of the patterns with the sign bit cleared; a pattern at or above the infinity pattern
    flags NaN/Inf). Raises OperandError (via ``check_finite``) naming the first NaN/Inf element.
    """
    K = a.shape[0]
    out = np.empty(K, dtype=np.float64)
    for k0 in range(0, K, chunk):
        block = kernel_array(a[k0:k0 + chunk])
        itype, absmask, inf_bits = _BITS[block.dtype]
        mb = np.empty(block.shape[0], dtype=itype)
        kernel = for_threads(_row_max_bits, block.size, ROW_MAX_SERIAL)
        kernel(block.view(itype), absmask, mb)
        if (mb >= inf_bits).any():
            check_finite(name, np.asarray(block, dtype=np.float64), k0)
        out[k0:k0 + chunk] = mb.view(block.dtype)
    return out


def exponents(max_abs: np.ndarray, granularity: str) -> tuple[np.ndarray, np.ndarray]:
    """Scale exponents e [K] (int64) and nonzero flags [K] from per-row maxima.

    granularity 'vector': e[k] = exponent of row k; 'batch': one exponent, of the largest
    magnitude over all K, repeated K times. Zero rows get e = 0 (vector) and nonzero = False.
    """
    nonzero = max_abs > 0.0
    if granularity == "batch":
        e = exponent_of(float(max_abs.max()) if max_abs.size else 0.0)
        return np.full(max_abs.shape[0], e, dtype=np.int64), nonzero
    return _exponents_vec(max_abs), nonzero


@nb.njit(cache=True)
def _exponents_vec(max_abs):  # pragma: no cover - numba
    out = np.empty(max_abs.shape[0], dtype=np.int64)
    bits = max_abs.view(np.int64)
    for k in range(max_abs.shape[0]):
        out[k] = exponent_of_bits(bits[k], 52, 1023)
    return out


def accumulator_shifts(ex: np.ndarray, ed: np.ndarray,
                       active: np.ndarray) -> tuple[int, np.ndarray]:
    """Common exponent E and per-k right shifts s_k = E - (e_x[k] + e_d[k]) >= 0.

    E = max over active k (both vectors nonzero) of e_x[k] + e_d[k], 0 if none is active. Inactive
    k get s_k = 0 (their counts are all zero, so the shift is irrelevant).
    """
    total = ex + ed
    E = int(total[active].max()) if active.any() else 0
    s = np.where(active, E - total, 0).astype(np.int64)
    return E, s


def scale_plan(x: np.ndarray, delta: np.ndarray, granularity: str, fraction_bits: int,
               rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, np.ndarray,
                                   np.ndarray]:
    """The shift scaler's pass over an update's operands, as the stochastic datapaths use it.

    Reads x [K, n] and delta [K, m] (rejecting NaN/Inf by name): float32 and float64
    operands in place, in one kernel call; others :func:`chunked_plan`, ``rows`` outer products
    at a time. Returns (ex, ed, active, E, lsh, rsh): the scale exponents per outer product
    (int64 [K] each), which outer products have both operands non-zero, the accumulator's
    common exponent E, and the left/right shifts (int64 [K]) with which count k enters an
    accumulator of ``fraction_bits`` fraction bits: (c << lsh[k]) >> rsh[k]
    (docs/numerics-essop.md).
    """
    if (x.dtype in _BITS and delta.dtype in _BITS and x.flags.c_contiguous
            and delta.flags.c_contiguous):
        # float32 / float64 read in place (no copy, so no chunks needed): one kernel call
        # instead of a kernel per chunk and a dozen numpy passes over K (2.5x faster on
        # ResNet-32's 16-row layers, K = 131072; a small update's fixed cost too)
        K = x.shape[0]
        ex, ed = np.empty(K, dtype=np.int64), np.empty(K, dtype=np.int64)
        active = np.empty(K, dtype=np.bool_)
        lsh, rsh = np.empty(K, dtype=np.int64), np.empty(K, dtype=np.int64)
        xi, xmask, xinf = _BITS[x.dtype]
        di, dmask, dinf = _BITS[delta.dtype]
        kernel = for_threads(_plan_in_one_piece, x.size + delta.size, ROW_MAX_SERIAL)
        E = kernel(x.view(xi), xmask, xinf, *FORMAT[x.dtype], delta.view(di), dmask, dinf,
                   *FORMAT[delta.dtype], granularity == "batch", fraction_bits, ex, ed, active,
                   lsh, rsh)
        if E is not None:
            return ex, ed, active, E, lsh, rsh
        # a NaN or Inf: the chunked path names it
    return chunked_plan(x, delta, granularity, fraction_bits, rows)


def chunked_plan(x: np.ndarray, delta: np.ndarray, granularity: str, fraction_bits: int,
                 rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, np.ndarray,
                                     np.ndarray]:
    """:func:`scale_plan` reading the operands ``rows`` outer products at a time, each chunk
    converted to float64 if it is not float32 / float64 (memory stays bounded), with numpy
    passes for the exponents and shifts; names the first NaN or Inf."""
    ex, nzx = exponents(row_max_abs(x, "x", rows), granularity)
    ed, nzd = exponents(row_max_abs(delta, "delta", rows), granularity)
    active = nzx & nzd
    E, lsh, rsh = shifts_of(ex, ed, active, fraction_bits)
    return ex, ed, active, E, lsh, rsh


def shifts_of(ex: np.ndarray, ed: np.ndarray, active: np.ndarray,
              fraction_bits: int) -> tuple[int, np.ndarray, np.ndarray]:
    """(E, lsh, rsh) of :func:`scale_plan` from the exponents and active flags."""
    E, s = accumulator_shifts(ex, ed, active)
    lsh = np.maximum(fraction_bits - s, 0).astype(np.int64)
    rsh = np.minimum(np.maximum(s - fraction_bits, 0), 63).astype(np.int64)
    return E, lsh, rsh


@nb.njit(parallel=True, cache=True)
def _plan_in_one_piece(xb, xmask, xinf, xfrac, xbias, db, dmask, dinf, dfrac, dbias, batch, F,
                       ex, ed, active, lsh, rsh):  # pragma: no cover - numba
    """:func:`scale_plan` of operands read in one piece, in one call: fills ex, ed, active, lsh
    and rsh and returns E, or None if an operand holds a NaN or Inf (nothing else is then
    meaningful). xb, db: the operands' bit patterns (float32 as int32, float64 as int64), with
    their |v| masks, infinity patterns, fraction bits and exponent biases
    (:func:`exponent_of_bits`). Rows in parallel; E and the shifts in one serial pass."""
    K = ex.shape[0]
    mx = np.empty(K, dtype=xb.dtype)
    md = np.empty(K, dtype=db.dtype)
    for k in nb.prange(K):
        bx = _one_row_bits(xb[k], xmask)
        bd = _one_row_bits(db[k], dmask)
        mx[k] = bx
        md[k] = bd
        ex[k] = exponent_of_bits(bx, xfrac, xbias) if bx < xinf else 0
        ed[k] = exponent_of_bits(bd, dfrac, dbias) if bd < dinf else 0
    big_x = xb.dtype.type(0)
    big_d = db.dtype.type(0)
    for k in range(K):
        if mx[k] >= xinf or md[k] >= dinf:
            return None
        big_x = max(big_x, mx[k])
        big_d = max(big_d, md[k])
        active[k] = mx[k] != 0 and md[k] != 0
    if batch:  # one exponent per operand, of its largest magnitude
        e_x = exponent_of_bits(big_x, xfrac, xbias)
        e_d = exponent_of_bits(big_d, dfrac, dbias)
        for k in range(K):
            ex[k] = e_x
            ed[k] = e_d
    E = 0
    first = True
    for k in range(K):
        if active[k]:
            t = ex[k] + ed[k]
            if first or t > E:
                E = t
                first = False
    for k in range(K):
        sk = E - (ex[k] + ed[k]) if active[k] else 0
        lsh[k] = max(F - sk, 0)
        rsh[k] = min(max(sk - F, 0), 63)
    return E
