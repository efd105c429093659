"""Slow, independent reference of the bit-serial numerics, written from docs/numerics-bitserial.md.

Pure Python integers and fractions, one element at a time: no numpy kernels, nothing imported from
essop_sim.datapaths.bitserial. The serial operand is streamed bit by bit (two's complement, LSB
first, b bits per cycle) so the product is also checked as the hardware forms it.
"""

from __future__ import annotations

import math
from fractions import Fraction

W = 16


def exponent(values) -> int:
    """Smallest e with max|v| <= 2^e (0 for all zero), exactly."""
    mx = max((abs(Fraction(float(v))) for v in values), default=Fraction(0))
    if mx == 0:
        return 0
    e = math.floor(math.log2(mx)) - 2
    while Fraction(2) ** e < mx:
        e += 1
    while Fraction(2) ** (e - 1) >= mx:
        e -= 1
    return e


def round_half_even(y: Fraction) -> int:
    f = math.floor(y)
    r = y - f
    if r > Fraction(1, 2) or (r == Fraction(1, 2) and f % 2 == 1):
        return f + 1
    return f


def code(v: float, e: int, bits: int, signed: bool) -> int:
    frac = (bits - 1 if signed else bits) - e
    q = round_half_even(Fraction(float(v)) * Fraction(2) ** frac)
    lo, hi = ((-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1))
    return min(max(q, lo), hi)


def serial_product(q_serial: int, q_parallel: int, p: int, b: int, signed: bool) -> int:
    """The unit's product after ceil(p / b) steps of b serial bits (two's complement if
    signed: bit p-1 weighs -2^(p-1))."""
    pattern = q_serial & ((1 << p) - 1)
    total = 0
    for step in range(-(-p // b)):
        for lane in range(b):
            t = step * b + lane
            if t >= p or not (pattern >> t) & 1:
                continue
            weight = -(1 << t) if signed and t == p - 1 else 1 << t
            total += weight * q_parallel
    return total


def reference(x, delta, *, p: int, b: int, serial: str, scaling: str, acc_bits: int,
              frac_bits: int, overflow: str):
    """(raw as list of lists, lsb exponent, overflows) for operands given as nested lists."""
    K, n, m = len(x), len(x[0]), len(delta[0])
    if scaling == "tensor":
        ex = [exponent(v for row in x for v in row)] * K
        ed = [exponent(v for row in delta for v in row)] * K
    else:
        ex = [exponent(row) for row in x]
        ed = [exponent(row) for row in delta]
    active = [any(v != 0 for v in x[k]) and any(v != 0 for v in delta[k]) for k in range(K)]
    E = max((ex[k] + ed[k] for k in range(K) if active[k]), default=0)
    if scaling == "tensor":
        E = ex[0] + ed[0] if any(active) else 0
    shifts = [E - ex[k] - ed[k] if active[k] else 0 for k in range(K)]
    serial_x = serial == "x"
    s_op = x if serial_x else delta
    serial_signed = any(v < 0 for row in s_op for v in row)
    sx = serial_signed if serial_x else True
    sd = True if serial_x else serial_signed
    bx, bd = (p, W) if serial_x else (W, p)
    half = 1 << (acc_bits - 1)
    acc = [[0] * n for _ in range(m)]
    overflows = 0
    for k in range(K):
        qx = [code(v, ex[k], bx, sx) for v in x[k]]
        qd = [code(v, ed[k], bd, sd) for v in delta[k]]
        for j in range(m):
            for i in range(n):
                if serial_x:
                    prod = serial_product(qx[i], qd[j], p, b, sx)
                else:
                    prod = serial_product(qd[j], qx[i], p, b, sd)
                assert prod == qx[i] * qd[j]
                if prod == 0:
                    continue
                a = acc[j][i] + ((prod << frac_bits) >> shifts[k])
                if not -half <= a < half:
                    overflows += 1
                    if overflow == "saturate":
                        a = half - 1 if a > 0 else -half
                    else:
                        a = (a + half) % (1 << acc_bits) - half
                acc[j][i] = a
    fx = bx - 1 if sx else bx
    fd = bd - 1 if sd else bd
    return acc, E - frac_bits - fx - fd, overflows
