"""IEEE 754 binary16 arithmetic, bit-exact, in numba.

Every operation rounds to nearest, ties to even (RNE), with gradual underflow (subnormals), overflow
to signed infinity and signed zeros, exactly as IEEE 754-2008 specifies for binary16.

How the fast path stays exact
-----------------------------
The rounding from a binary64 value to binary16 is written here with integer operations on the
binary64 bit pattern (no libm, no numpy casts). An operation is exact to binary16 whenever its
*exact* result is formed in binary64 and rounded once:

* **multiply**: binary16 significands have 11 bits, so a product has at most 22 significant bits,
  and its magnitude lies in [2^-48, 2^32), well inside binary64's normal range: the binary64
  product is exact, and one rounding gives the correctly rounded binary16 product.
* **add**: every binary16 value is an integer multiple of 2^-24 below 2^16 in magnitude, so the
  exact sum of two is a multiple of 2^-24 below 2^17: an integer of at most 41 bits times 2^-24,
  exact in binary64's 53-bit significand. One rounding again gives the correctly rounded sum.

binary32 accumulation (``acc = fl32(acc + p)``) uses the machine's binary32 addition, which is IEEE
RNE: a binary16 product converts to binary32 exactly, so no rounding of our own is involved.

NaN results (only from ``inf - inf``, possible only after an overflow) are given the canonical quiet
NaN pattern 0x7E00 (binary16) or 0x7FC00000 (binary32) in raw bit patterns.

Public scalar kernels (numba ``njit``, callable from Python and from other kernels):
``round_f16`` (binary64 value -> binary64 value of its binary16 rounding), ``f64_to_f16_bits``,
``f16_bits_to_f64``, ``f16_mul``, ``f16_add`` (bit patterns in, bit pattern out). Array helpers:
``to_f16_bits``, ``f16_bits_to_float64``, ``round_f16_array``, ``mul_bits``, ``add_bits``.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

#: Largest finite binary16 value.
F16_MAX = 65504.0
#: Smallest magnitude that rounds to infinity under RNE: halfway between 65504 and 2^16 (the
#: tie goes to the even significand, which is the overflow side).
F16_OVERFLOW = 65520.0
#: Smallest positive normal binary16 value, 2^-14.
F16_MIN_NORMAL = 2.0 ** -14
#: Smallest positive subnormal binary16 value, 2^-24.
F16_MIN_SUBNORMAL = 2.0 ** -24
#: Canonical quiet NaN bit patterns used in raw outputs.
F16_QNAN = 0x7E00
F32_QNAN = 0x7FC00000

_SIGN64 = np.uint64(0x8000000000000000)
_INF64 = np.uint64(0x7FF0000000000000)
_OVF64 = np.uint64(0x40EFFE0000000000)  # bits of 65520.0
_MINNORM64 = np.uint64(0x3F10000000000000)  # bits of 2^-14
_DROP = np.uint64(42)  # binary64 has 52 fraction bits, binary16 keeps 10
_HALF_M1 = np.uint64((1 << 41) - 1)
_KEEP_MASK = np.uint64(~((1 << 42) - 1) & 0xFFFFFFFFFFFFFFFF)
_ONE64 = np.uint64(1)
_SUB_MAGIC = 2.0 ** 28  # ulp(2^28) in binary64 is 2^-24, the binary16 subnormal quantum


@intrinsic
def _f64_as_u64(typingctx, x):
    """Reinterpret a float64's bits as uint64 (no conversion)."""
    if x != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.uint64(types.float64), codegen


@intrinsic
def _u64_as_f64(typingctx, x):
    """Reinterpret a uint64's bits as float64 (no conversion)."""
    if x != types.uint64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.uint64), codegen


@njit(cache=True, inline="always")
def round_f16(v: float) -> float:
    """The binary16 RNE rounding of a binary64 value, returned as a binary64 value.

    Infinities and NaN pass through; |v| >= 65520 gives a signed infinity; results below 2^-14 in
    magnitude are binary16 subnormals (multiples of 2^-24); the sign of zero is kept.
    """
    b = _f64_as_u64(v)
    sign = b & _SIGN64
    a = b ^ sign
    if a >= _INF64:  # inf or NaN
        return v
    if a >= _OVF64:
        return _u64_as_f64(sign | _INF64)
    if a >= _MINNORM64:
        # Normal binary16 result: round the 52-bit fraction to 10 bits, ties to even. A carry
        # out of the fraction correctly bumps the exponent.
        lsb = (a >> _DROP) & _ONE64
        a = (a + _HALF_M1 + lsb) & _KEEP_MASK
        return _u64_as_f64(sign | a)
    # Subnormal range: round to a multiple of 2^-24. Adding 2^28 makes binary64's own RNE
    # rounding land exactly on that grid; the subtraction is then exact.
    r = (_u64_as_f64(a) + _SUB_MAGIC) - _SUB_MAGIC
    return _u64_as_f64(sign | _f64_as_u64(r))


@njit(cache=True)
def f64_to_f16_bits(v: float) -> np.uint16:
    """binary16 bit pattern of the RNE rounding of a binary64 value (NaN -> 0x7E00)."""
    r = round_f16(v)
    b = _f64_as_u64(r)
    sign = np.int64((b >> np.uint64(48)) & np.uint64(0x8000))
    a = b & ~_SIGN64
    if a > _INF64:
        return np.uint16(F16_QNAN)
    if a == _INF64:
        return np.uint16(sign | 0x7C00)
    if a >= _MINNORM64:
        e = np.int64(a >> np.uint64(52)) - 1023 + 15
        frac = np.int64((a >> _DROP) & np.uint64(0x3FF))
        return np.uint16(sign | (e << 10) | frac)
    # subnormal or zero: r is an exact multiple of 2^-24 below 2^-14
    q = np.int64(_u64_as_f64(a) * 16777216.0)  # exact: r * 2^24 is an integer < 1024
    return np.uint16(sign | q)


@njit(cache=True)
def f16_bits_to_f64(h) -> float:
    """Exact binary64 value of a binary16 bit pattern."""
    h = np.int64(h) & 0xFFFF
    e = (h >> 10) & 0x1F
    f = h & 0x3FF
    s = -1.0 if h & 0x8000 else 1.0
    if e == 0x1F:
        return s * np.inf if f == 0 else np.nan
    if e == 0:
        return s * f * F16_MIN_SUBNORMAL
    return s * (1024 + f) * 2.0 ** (e - 25)


@njit(cache=True)
def f16_mul(a, b) -> np.uint16:
    """binary16 product of two binary16 bit patterns, RNE (exact product rounded once)."""
    return f64_to_f16_bits(f16_bits_to_f64(a) * f16_bits_to_f64(b))


@njit(cache=True)
def f16_add(a, b) -> np.uint16:
    """binary16 sum of two binary16 bit patterns, RNE (exact sum rounded once)."""
    return f64_to_f16_bits(f16_bits_to_f64(a) + f16_bits_to_f64(b))


@njit(cache=True)
def _round_array(a: np.ndarray, out: np.ndarray) -> int:
    """out = round_f16(a) elementwise (flat arrays); return the flat index of the first finite
    element that overflowed to infinity, or -1."""
    first = -1
    for i in range(a.size):
        v = a[i]
        r = round_f16(v)
        out[i] = r
        if first < 0 and abs(v) < np.inf and abs(r) == np.inf:
            first = i
    return first


@njit(cache=True)
def _bits_array(a: np.ndarray, out: np.ndarray) -> None:
    for i in range(a.size):
        out[i] = f64_to_f16_bits(a[i])


@njit(cache=True)
def _values_array(h: np.ndarray, out: np.ndarray) -> None:
    for i in range(h.size):
        out[i] = f16_bits_to_f64(h[i])


@njit(cache=True)
def _binary_array(op: int, a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    for i in range(a.size):
        if op == 0:
            out[i] = f16_mul(a[i], b[i])
        else:
            out[i] = f16_add(a[i], b[i])


def _binary(op: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.broadcast_arrays(np.asarray(a, np.uint16), np.asarray(b, np.uint16))
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    out = np.empty(a.shape, np.uint16)
    _binary_array(op, a.reshape(-1), b.reshape(-1), out.reshape(-1))
    return out


def mul_bits(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise binary16 products of bit-pattern arrays (uint16 in, uint16 out), RNE."""
    return _binary(0, a, b)


def add_bits(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise binary16 sums of bit-pattern arrays (uint16 in, uint16 out), RNE."""
    return _binary(1, a, b)


def round_f16_array(a: np.ndarray) -> tuple[np.ndarray, int]:
    """Round every element of ``a`` to binary16 (RNE); values come back as float64.

    Returns ``(rounded, first_overflow)`` where ``first_overflow`` is the flat index of the first
    finite element that rounded to infinity (|v| >= 65520), or -1 if none did.
    """
    src = np.ascontiguousarray(a, dtype=np.float64)
    out = np.empty(src.shape, np.float64)
    first = _round_array(src.reshape(-1), out.reshape(-1))
    return out, int(first)


def to_f16_bits(a: np.ndarray) -> np.ndarray:
    """binary16 bit patterns (uint16) of the RNE rounding of every element of ``a``."""
    src = np.ascontiguousarray(a, dtype=np.float64)
    out = np.empty(src.shape, np.uint16)
    _bits_array(src.reshape(-1), out.reshape(-1))
    return out


def f16_bits_to_float64(h: np.ndarray) -> np.ndarray:
    """Exact float64 values of binary16 bit patterns."""
    src = np.ascontiguousarray(h, dtype=np.uint16)
    out = np.empty(src.shape, np.float64)
    _values_array(src.reshape(-1), out.reshape(-1))
    return out


def f32_bits(a: np.ndarray) -> np.ndarray:
    """binary32 bit patterns (uint32) of float32 values, NaN canonicalised to 0x7FC00000."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    bits = a.view(np.uint32).copy()
    bits[np.isnan(a)] = F32_QNAN
    return bits


__all__ = [
    "F16_MAX", "F16_MIN_NORMAL", "F16_MIN_SUBNORMAL", "F16_OVERFLOW", "F16_QNAN", "F32_QNAN",
    "add_bits", "f16_add", "f16_bits_to_f64", "f16_bits_to_float64", "f16_mul", "f32_bits",
    "f64_to_f16_bits", "mul_bits", "round_f16", "round_f16_array", "to_f16_bits",
]
