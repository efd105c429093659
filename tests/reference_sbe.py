"""A slow, independent reference of the SBE streaming recursion (docs/numerics-sbe.md), written
from the document with scalar numpy arithmetic (np.float16 / np.float32, whose +, *, / and sqrt
are correctly rounded) and exact rationals for fixed point. Shares no code with the package."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np


class Arith:
    def __init__(self, kind: str, bits: int = 26, frac: int = 16):
        self.kind, self.bits, self.frac = kind, bits, frac

    def q(self, v):
        if self.kind == "binary64":
            return float(v)
        if self.kind == "binary32":
            return np.float32(v)
        if self.kind == "binary16":
            return np.float16(v)
        # fixed: RNE to multiples of 2^-F, saturate to W-bit two's complement
        scaled = Fraction(v) * (1 << self.frac)
        n = round(scaled)                       # Python rounds half to even
        hi = (1 << (self.bits - 1)) - 1
        n = max(-hi - 1, min(hi, n))
        return Fraction(n, 1 << self.frac)

    def mul(self, a, b):
        return self.q(a * b) if self.kind == "fixed" else self.q(a * b)

    def add(self, a, b):
        return self.q(a + b)

    def sub(self, a, b):
        return self.q(a - b)

    def div(self, a, b):
        if self.kind == "fixed":
            return self.q(Fraction(a) / Fraction(b))
        return self.q(a / b)

    def const(self, num, den):
        if self.kind == "fixed":
            return self.q(Fraction(num, den))
        return self.q(num / den)

    def sqrt(self, a):
        if self.kind == "fixed":
            n = int(Fraction(a) * (1 << (2 * self.frac)))     # sqrt(a) 2^F = sqrt(a 2^2F)
            r = math.isqrt(n)
            if n - r * r > r:
                r += 1
            return self.q(Fraction(r, 1 << self.frac))
        return self.q(np.sqrt(a))

    def dot(self, u, v):
        acc = self.mul(u[0], v[0])
        for k in range(1, len(u)):
            acc = self.add(acc, self.mul(u[k], v[k]))
        return acc

    def normalised(self, v):
        nrm2 = self.dot(v, v)
        if nrm2 <= 0:
            return None
        inv = self.div(self.q(1), self.sqrt(nrm2))
        return [self.mul(e, inv) for e in v]


def exponent(a) -> int:
    """Smallest e with max|a| <= 2^e (0 for all zeros), by search."""
    peak = float(np.max(np.abs(a)))
    if peak == 0:
        return 0
    e = 0
    while 2.0 ** e < peak:
        e += 1
    while 2.0 ** (e - 1) >= peak:
        e -= 1
    return e


def reference_sbe(x, delta, rank, passes, kind, bits=26, frac=16, state=None, warm_weight=0.0):
    """(x', delta', state) of the recursion, x' [r, n] and delta' [r, m] as float64; state =
    (hats X^, hats D^, set flags, X, D, s, scaling exponent ex + ed). With warm_weight > 0 a
    warm state's X, D and s seed the averages as w0 = round(warm_weight K) prior samples."""
    A = Arith(kind, bits, frac)
    K, n = x.shape
    m = delta.shape[1]
    r = min(rank, K, m, n)
    ex, ed = exponent(x), exponent(delta)
    xs = [[A.q(float(v) * 2.0 ** -ex) for v in row] for row in x]
    ds = [[A.q(float(v) * 2.0 ** -ed) for v in row] for row in delta]
    X = [[A.q(0)] * n for _ in range(r)]
    D = [[A.q(0)] * m for _ in range(r)]
    s = [A.q(0)] * r
    w0 = 0
    if state is None:
        xh, dh, valid = [None] * r, [None] * r, [False] * r
    else:
        xh, dh, valid = [list(v) for v in state[0]], [list(v) for v in state[1]], list(state[2])
        w0 = round(warm_weight * K)
        if w0:
            # rescale by 2^(e_prev - e): exact in Fraction / binary64, then one rounding
            f = Fraction(2) ** (state[6] - ex - ed)
            if kind == "fixed":
                def carry(v):
                    return A.q(Fraction(v) * f)
            else:
                def carry(v):
                    return A.q(float(Fraction(float(v)) * f))
            X = [[carry(v) for v in row] for row in state[3]]
            D = [[carry(v) for v in row] for row in state[4]]
            s = [carry(v) for v in state[5]]
    for p in range(passes):
        for j in range(K):
            J, js = w0 + p * K + j, w0 + j
            a, b = A.const(J, J + 1), A.const(1, J + 1)
            a_s, b_s = A.const(js, js + 1), A.const(1, js + 1)
            xv, dv = list(xs[j]), list(ds[j])
            for i in range(r):
                if not valid[i]:
                    hx, hd = A.normalised(xv), A.normalised(dv)
                    if hx is None or hd is None:
                        break
                    xh[i], dh[i], valid[i] = hx, hd, True
                cx, cd = A.dot(xv, xh[i]), A.dot(dv, dh[i])
                bcd, bcx = A.mul(b, cd), A.mul(b, cx)
                X[i] = [A.add(A.mul(a, X[i][k]), A.mul(bcd, xv[k])) for k in range(n)]
                D[i] = [A.add(A.mul(a, D[i][k]), A.mul(bcx, dv[k])) for k in range(m)]
                if i < r - 1:
                    xn = [A.sub(xv[k], A.mul(cx, xh[i][k])) for k in range(n)]
                    dn = [A.sub(dv[k], A.mul(cd, dh[i][k])) for k in range(m)]
                xh[i] = A.normalised(X[i]) or xh[i]
                dh[i] = A.normalised(D[i]) or dh[i]
                if p == passes - 1:
                    t = A.mul(b_s, A.mul(A.dot(xv, xh[i]), A.dot(dv, dh[i])))
                    s[i] = A.add(A.mul(a_s, s[i]), t)
                if i < r - 1:
                    xv, dv = xn, dn
    xo, do = np.zeros((r, n)), np.zeros((r, m))
    for i in range(r):
        if not valid[i] or s[i] == 0:
            continue
        t = A.sqrt(abs(s[i]))
        xo[i] = [float(A.mul(t, e)) * K * 2.0 ** ex for e in xh[i]]
        do[i] = [(-1 if s[i] < 0 else 1) * float(A.mul(t, e)) * 2.0 ** ed for e in dh[i]]
    return xo, do, (xh, dh, valid, X, D, s, ex + ed)
