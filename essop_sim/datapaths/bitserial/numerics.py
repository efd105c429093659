"""Bit-exact numerics of the bit-serial datapath: fixed-point operands with a power-of-two scale,
integer products of a p-bit serial operand and a 16-bit parallel one, aligned and accumulated in
an A-bit accumulator that wraps or saturates. The specification, bit for bit, is
docs/numerics-bitserial.md; tests/reference_bitserial.py re-implements it independently.

The serial operand's precision p is a property of the data in mode 'auto' (the smallest p whose
dW is within ``tolerance`` of the exact float64 update), so it is returned as the timing hint
'precision'. Operands are read in chunks of outer products with the accumulator carried across
chunks, so ``chunk`` never changes the result.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from ...numerics.metrics import exact_update, relative_error
from ...numerics.result import OuterProductResult
from ...numerics.shift_scaler import accumulator_shifts, exponent_of, row_max_abs
from .config import OPERAND_BITS

#: Outer products per chunk when the caller gives none.
DEFAULT_CHUNK = 4096


@nb.njit(cache=True)
def accumulate(qd, qx, shifts, frac, acc_bits, saturate, acc, overflows):  # pragma: no cover
    """acc[j, i] <- ovf(acc[j, i] + ((qd[k, j] * qx[k, i]) << frac) >> shifts[k]) for k in order.

    ovf: clamp to [-2^(A-1), 2^(A-1) - 1] (saturate) or two's complement modulo 2^A (wrap);
    ``overflows[0]`` counts the adds that left the range. A right shift is arithmetic (floor);
    shifts of 63 or more give floor(v / 2^63) = 0 or -1, as they would for any larger shift."""
    K, m = qd.shape
    n = qx.shape[1]
    half = np.int64(1) << (acc_bits - 1)
    mask = (np.int64(1) << acc_bits) - 1
    for k in range(K):
        s = min(shifts[k], 63)
        for j in range(m):
            d = qd[k, j]
            if d == 0:
                continue
            for i in range(n):
                v = qx[k, i]
                if v == 0:
                    continue
                t = ((d * v) << frac) >> s
                a = acc[j, i] + t
                if a >= half or a < -half:
                    overflows[0] += 1
                    a = (half - 1 if a > 0 else -half) if saturate else ((a + half) & mask) - half
                acc[j, i] = a


def quantise(a: np.ndarray, e: np.ndarray, bits: int, signed: bool) -> tuple[np.ndarray, int]:
    """Fixed-point codes of rows ``a`` [k, len] with exponents ``e`` [k]: (int64 codes, clips).

    signed: q = clip(rint(v * 2^(bits-1-e)), -2^(bits-1), 2^(bits-1)-1); unsigned (no negative
    element): q = clip(rint(v * 2^(bits-e)), 0, 2^bits - 1). rint rounds half to even; the
    power-of-two scaling is exact. ``clips`` counts elements the clip changed."""
    frac = (bits - 1 if signed else bits) - np.asarray(e, np.int64)
    y = np.rint(np.ldexp(np.asarray(a, np.float64), frac[:, None].astype(np.int32)))
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    clips = int(np.count_nonzero(y > hi) + np.count_nonzero(y < lo))
    return np.clip(y, lo, hi).astype(np.int64), clips


def _scan(a, name: str, chunk: int) -> tuple[np.ndarray, bool]:
    """Per-row max |a| [K] (finite-checked) and whether any element is negative."""
    negative = False
    for k0 in range(0, a.shape[0], chunk):
        negative = negative or bool((np.asarray(a[k0:k0 + chunk]) < 0).any())
    return row_max_abs(a, name, chunk), negative


def _exponents(max_abs: np.ndarray, scaling: str) -> np.ndarray:
    if scaling == "tensor":
        e = exponent_of(float(max_abs.max()))
        return np.full(max_abs.shape[0], e, np.int64)
    return np.array([exponent_of(float(v)) for v in max_abs], np.int64)


class _Prepared:
    """What one record's passes share: exponents, signedness, alignment shifts."""

    def __init__(self, x, delta, c, chunk: int):
        mx, neg_x = _scan(x, "x", chunk)
        md, neg_d = _scan(delta, "delta", chunk)
        self.ex, self.ed = _exponents(mx, c.scaling), _exponents(md, c.scaling)
        active = (mx > 0) & (md > 0)
        if c.scaling == "tensor":
            self.E = int(self.ex[0] + self.ed[0]) if active.any() else 0
            self.shifts = np.zeros(len(mx), np.int64)
        else:
            self.E, self.shifts = accumulator_shifts(self.ex, self.ed, active)
        serial_x = c.serial_operand == "x"
        # the parallel operand is always signed; the serial one is unsigned if never negative
        self.signed_x = neg_x if serial_x else True
        self.signed_d = True if serial_x else neg_d
        self.serial_signed = self.signed_x if serial_x else self.signed_d
        self.serial_x = serial_x


def _pass(x, delta, c, prep: _Prepared, p: int, chunk: int):
    """One bit-exact pass at serial precision p: (raw, lsb exponent, overflows, clips)."""
    m, n = delta.shape[1], x.shape[1]
    bits_x = p if prep.serial_x else OPERAND_BITS
    bits_d = OPERAND_BITS if prep.serial_x else p
    acc = np.zeros((m, n), np.int64)
    overflows = np.zeros(1, np.int64)
    clips = 0
    for k0 in range(0, x.shape[0], chunk):
        sl = slice(k0, k0 + chunk)
        qx, cx = quantise(x[sl], prep.ex[sl], bits_x, prep.signed_x)
        qd, cd = quantise(delta[sl], prep.ed[sl], bits_d, prep.signed_d)
        clips += cx + cd
        accumulate(qd, qx, prep.shifts[sl], c.accumulator_fraction_bits, c.accumulator_bits,
                   c.overflow == "saturate", acc, overflows)
    fx = bits_x - 1 if prep.signed_x else bits_x
    fd = bits_d - 1 if prep.signed_d else bits_d
    return acc, prep.E - c.accumulator_fraction_bits - fx - fd, int(overflows[0]), clips


def bitserial_outer_product(x: np.ndarray, delta: np.ndarray, config, seed: int = 0, *,
                            chunk: int | None = None,
                            precision: int | None = None) -> OuterProductResult:
    """The bit-serial datapath's bit-exact sum_k delta_k x_k^T (deterministic: ``seed`` unused).

    ``precision`` overrides the configured rule (tests). Mode 'auto' tries p = 1, 2, ..., 16 and
    keeps the first whose relative error against the float64 update is at most ``tolerance``
    (16 if none is)."""
    c = config.bitserial
    chunk = int(chunk or DEFAULT_CHUNK)
    prep = _Prepared(x, delta, c, chunk)
    if precision is not None:
        candidates = [precision]
    elif c.precision_mode == "auto":
        candidates = list(range(1, OPERAND_BITS + 1))
    else:   # 'fixed', and 'profile' when no layer picked a p (Datapath.for_layer does)
        candidates = [c.precision]
    exact = exact_update(x, delta) if len(candidates) > 1 else None
    for p in candidates:
        raw, lsb_exp, overflows, clips = _pass(x, delta, c, prep, p, chunk)
        dw = np.ldexp(raw.astype(np.float64), lsb_exp)
        if exact is None or relative_error(dw, exact) <= c.tolerance:
            break
    return OuterProductResult(
        datapath="bitserial", dw=dw, update=-dw, raw=raw, lsb_weight=math.ldexp(1.0, lsb_exp),
        x_shifts=prep.ex, delta_shifts=prep.ed, learning_rate=1.0,
        activity={"accumulator_overflows": overflows, "quantiser_clips": clips,
                  "k": int(x.shape[0])},
        hints={"precision": int(p), "serial_signed": bool(prep.serial_signed)})
