"""The pipelined FP16 multiplier baseline: what it computes, bit-exact.

The datapath, as modeled (timing is the event model's job, not this module's):

1. **Operands to binary16.** Each x_k,i and delta_k,j (float64, float32, float16 or integer) is
   rounded to binary16 with round-to-nearest-even, subnormals kept. NaN or Inf operands are an
   :class:`~essop_sim.errors.OperandError` naming the element. A finite operand whose magnitude is
   65520 or more would round to infinity; that is also an ``OperandError`` naming the element (the
   baseline has no representation for it, and silently turning a gradient into inf would poison
   the whole update). Nonzero operands at or below 2^-25 round to (signed) zero: this is ordinary
   binary16 underflow and is counted as ``operand_flushes``.
2. **Products.** ``p = fl16(delta_k,j * x_k,i)``: one binary16 multiply, RNE, overflow to signed
   infinity, subnormal results kept.
3. **Accumulation over k = 0 .. K-1 in order.** The accumulator starts at +0 and every product is
   added: ``acc = fl16(acc + p)`` (``config.fp16.accumulator == 'fp16'``) or
   ``acc = fl32(acc + p)`` (``'fp32'``). Because the start value is +0, a lone product of -0
   leaves +0 (IEEE: +0 + -0 = +0 under RNE).
4. **Learning rate.** ``update = -eta * dw`` is computed in float64; the multiply by eta is *not*
   modeled in binary16 (the baseline is charged for the outer product only, like ESSOP).

Speed: the kernel runs the exact-then-round-once fast path of :mod:`essop_sim.numerics.fp16`
over rows of dW in parallel (``prange``), each row summing k in order, so results do not depend on
the thread count. K is processed in chunks, so memory-mapped traces are streamed.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ...config import HardwareConfig
from ...errors import OperandError
from ...numerics import as_operands, check_finite
from ...numerics.fp16 import F16_QNAN, f32_bits, round_f16, round_f16_array, to_f16_bits
from ...numerics.pattern import mask_cols, mask_of
from ...numerics.result import OuterProductResult

#: Target bytes of one chunk of binary16 operands (x and delta rows) held as float32.
CHUNK_BYTES = 1 << 20


@njit(cache=True, parallel=True)
def _accumulate_fp16(x16, d16, acc, prod_ovf, acc_ovf):
    """acc[j, i] = fl16(acc[j, i] + fl16(d16[k, j] * x16[k, i])) for k in order.

    x16 [Kc, n] and d16 [Kc, m] hold binary16 values as float32 (exact); acc [m, n] float64
    holds binary16 values. prod_ovf / acc_ovf [m] count overflows to inf per row.
    """
    kc, n = x16.shape
    m = d16.shape[1]
    for j in prange(m):
        po = 0
        ao = 0
        for k in range(kc):
            d = np.float64(d16[k, j])
            for i in range(n):
                p = round_f16(d * np.float64(x16[k, i]))
                a = acc[j, i]
                s = round_f16(a + p)
                pinf = abs(p) == np.inf
                po += pinf
                ao += (abs(s) == np.inf) and not pinf and abs(a) != np.inf
                acc[j, i] = s
        prod_ovf[j] += po
        acc_ovf[j] += ao


@njit(cache=True, parallel=True)
def _accumulate_fp32(x16, d16, acc, prod_ovf, acc_ovf):
    """acc[j, i] = fl32(acc[j, i] + fl16(d16[k, j] * x16[k, i])) for k in order (acc float32)."""
    kc, n = x16.shape
    m = d16.shape[1]
    for j in prange(m):
        po = 0
        ao = 0
        for k in range(kc):
            d = np.float64(d16[k, j])
            for i in range(n):
                p = round_f16(d * np.float64(x16[k, i]))
                a = acc[j, i]
                s = a + np.float32(p)  # binary32 add, RNE (p converts exactly)
                pinf = abs(p) == np.inf
                po += pinf
                ao += (abs(s) == np.inf) and not pinf and abs(a) != np.inf
                acc[j, i] = s
        prod_ovf[j] += po
        acc_ovf[j] += ao


def _to_binary16(name: str, chunk: np.ndarray, k0: int) -> tuple[np.ndarray, int]:
    """Round one chunk of operands to binary16 (values as float32); count flushes to zero."""
    values = np.asarray(chunk, dtype=np.float64)
    check_finite(name, values, k0)
    rounded, first = round_f16_array(values)
    if first >= 0:
        k, i = np.unravel_index(first, values.shape)
        raise OperandError(
            f"{name}[{k0 + k}, {i}] is {values[k, i]!r}: beyond the binary16 range of the FP16 "
            f"baseline (|v| >= 65520 rounds to inf; the largest finite value is 65504)")
    flushes = int(np.count_nonzero((rounded == 0) & (values != 0)))
    return rounded.astype(np.float32), flushes


def fp16_outer_product(x: np.ndarray, delta: np.ndarray, config: HardwareConfig, *,
                       chunk: int | None = None) -> OuterProductResult:
    """The FP16 baseline's sum_k fl(delta_k x_k^T), bit-exact.

    Args:
        x: [K, n] layer inputs (any float or integer dtype; may be memory-mapped).
        delta: [K, m] output errors.
        config: hardware configuration; uses ``fp16.accumulator`` and
            ``essop.scaling.learning_rate``.
        chunk: outer products per pass (default: ~CHUNK_BYTES of operands); does not change
            results.

    Returns:
        OuterProductResult with ``dw`` [m, n] float64 (the accumulator values), ``raw`` the
        accumulator bit patterns (uint16 for fp16 accumulation, uint32 for fp32), ``update =
        -eta * dw`` and ``activity`` = {'fp16_multiplies', 'fp16_adds' or 'fp32_adds',
        'overflows' (product and accumulator results that became inf), 'product_overflows',
        'accumulator_overflows', 'operand_flushes' (nonzero operands that rounded to zero), 'k'}.
    """
    x, delta = as_operands(x, delta)
    K, n = x.shape
    m = delta.shape[1]
    fp16_acc = config.fp16.accumulator == "fp16"
    acc = np.zeros((m, n), np.float64 if fp16_acc else np.float32)
    kernel = _accumulate_fp16 if fp16_acc else _accumulate_fp32
    prod_ovf = np.zeros(m, np.int64)
    acc_ovf = np.zeros(m, np.int64)
    flushes = 0
    rows = max(1, int(chunk) if chunk else CHUNK_BYTES // (4 * (n + m)))
    for k0 in range(0, K, rows):
        k1 = min(K, k0 + rows)
        x16, fx = _to_binary16("x", x[k0:k1], k0)
        d16, fd = _to_binary16("delta", delta[k0:k1], k0)
        flushes += fx + fd
        kernel(x16, d16, acc, prod_ovf, acc_ovf)
    if fp16_acc:
        raw = to_f16_bits(acc)
        raw[np.isnan(acc)] = F16_QNAN
    else:
        raw = f32_bits(acc)
    elements = m * n * K
    mcols = mask_cols(config.fp16.mask, m, n)
    if mcols is not None:   # cells are independent: zero the unconnected, count the connected
        off = ~mask_of(mcols, n)
        acc[off] = 0
        raw[off] = 0
        elements = int(mcols.size) * K
    dw = acc.astype(np.float64)
    eta = float(config.essop.scaling.learning_rate)
    po, ao = int(prod_ovf.sum()), int(acc_ovf.sum())
    activity = {
        "fp16_multiplies": elements,
        ("fp16_adds" if fp16_acc else "fp32_adds"): elements,
        "overflows": po + ao,
        "product_overflows": po,
        "accumulator_overflows": ao,
        "operand_flushes": flushes,
        "k": K,
    }
    return OuterProductResult(datapath="fp16", dw=dw, update=-eta * dw, raw=raw,
                              lsb_weight=1.0, learning_rate=eta, activity=activity)


__all__ = ["fp16_outer_product"]
