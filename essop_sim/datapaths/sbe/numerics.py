"""SBE numerics: the streaming rank-r recursion, bit-exact in the configured arithmetic, and the
exact mode (float64 truncated SVD). Every rule is stated in docs/numerics-sbe.md; the test suite
holds this kernel bit-equal to a slow independent reference (tests/reference_sbe.py).

Modes of the scalar rounding ``_rnd``: 0 binary64 (no rounding), 1 binary32, 2 binary16,
3 fixed point (W bits, F fraction bits, RNE, saturating). Additions and multiplications are
formed exactly in binary64 and rounded once; divisions and square roots are binary64's correctly
rounded results rounded again, which is the correct rounding for binary16 and binary32 (binary64
has p' = 53 >= 2p + 2 bits; Figueroa 1995), while fixed point divides and takes square roots in
integers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from ...numerics.fp16 import round_f16

MODES = {"binary64": 0, "binary32": 1, "binary16": 2, "fixed": 3}


@njit(cache=True, inline="always")
def _rnd(v, mode, scale, hi):
    if mode == 0:
        return v
    if mode == 1:
        return float(np.float32(v))
    if mode == 2:
        return round_f16(v)
    q = np.rint(v * scale)          # v * 2^F is exact; rint rounds half to even
    if q > hi:
        q = hi
    elif q < -hi - 1.0:
        q = -hi - 1.0
    return q / scale


@njit(cache=True)
def _div(a, b, mode, scale, hi):
    """RNE(a / b) in the arithmetic (b != 0)."""
    if mode != 3:
        return _rnd(a / b, mode, scale, hi)
    qa = np.int64(a * scale)
    qb = np.int64(b * scale)
    neg = (qa < 0) != (qb < 0)
    num = abs(qa) * np.int64(scale)
    den = abs(qb)
    q = num // den
    rem = num - q * den
    if 2 * rem > den or (2 * rem == den and q % 2 == 1):
        q += 1
    v = float(-q if neg else q)
    if v > hi:
        v = hi
    elif v < -hi - 1.0:
        v = -hi - 1.0
    return v / scale


@njit(cache=True)
def _sqrt(a, mode, scale, hi):
    """RNE(sqrt(a)) in the arithmetic (a >= 0)."""
    if mode != 3:
        return _rnd(math.sqrt(a), mode, scale, hi)
    n = np.int64(a * scale) * np.int64(scale)      # sqrt(a) * 2^F = sqrt(qa * 2^F)
    r = np.int64(math.sqrt(float(n)))
    while r * r > n:
        r -= 1
    while (r + 1) * (r + 1) <= n:
        r += 1
    if n - r * r > r:        # sqrt(n) > r + 1/2 (never a tie for an integer n)
        r += 1
    v = float(r)
    if v > hi:
        v = hi
    return v / scale


@njit(cache=True)
def _dot(a, b, mode, scale, hi):
    acc = _rnd(a[0] * b[0], mode, scale, hi)
    for k in range(1, a.shape[0]):
        acc = _rnd(acc + _rnd(a[k] * b[k], mode, scale, hi), mode, scale, hi)
    return acc


@njit(cache=True)
def _normalise(v, out, mode, scale, hi, ops):
    """out = v * RNE(1 / RNE(sqrt(v . v))); unchanged (False) when the norm is zero."""
    nrm2 = _dot(v, v, mode, scale, hi)
    ops[0] += v.shape[0]
    ops[1] += v.shape[0] - 1
    ops[3] += 1
    nrm = _sqrt(nrm2, mode, scale, hi) if nrm2 > 0 else 0.0
    if nrm <= 0:
        return False
    inv = _div(1.0, nrm, mode, scale, hi)
    ops[2] += 1
    for k in range(v.shape[0]):
        out[k] = _rnd(v[k] * inv, mode, scale, hi)
    ops[0] += v.shape[0]
    return True


@njit(cache=True)
def sbe_kernel(xs, ds, rank, passes, xh, dh, valid, X, D, s, w0, mode, scale, hi, ops):
    """The streaming recursion (docs/numerics-sbe.md section 3) on operands already in the
    arithmetic. xh [r, n], dh [r, m], valid [r]: the hats (warm start or unset); X [r, n],
    D [r, m], s [r]: the running averages (zero, or the previous step's counted as w0 prior
    samples, section 5); all updated in place (s: the last pass's). Returns s. ops counts
    (mul, add, div, sqrt) in place."""
    K, n = xs.shape
    m = ds.shape[1]
    xn = np.empty(n)
    dn = np.empty(m)
    for p in range(passes):
        last = p == passes - 1
        for j in range(K):
            # X and D average over every sample seen (J = w0 + p K + j), across passes; s
            # averages over the last pass only (its own j, after the same w0 prior samples)
            J = w0 + p * K + j
            js = w0 + j
            a = _div(float(J), float(J + 1), mode, scale, hi)
            b = _div(1.0, float(J + 1), mode, scale, hi)
            a_s = _div(float(js), float(js + 1), mode, scale, hi)
            b_s = _div(1.0, float(js + 1), mode, scale, hi)
            xv = xs[j].copy()
            dv = ds[j].copy()
            for i in range(rank):
                if not valid[i]:
                    # cold start: the component's hats are its first nonzero (deflated) pair
                    okx = _normalise(xv, xh[i], mode, scale, hi, ops)
                    okd = _normalise(dv, dh[i], mode, scale, hi, ops)
                    if not (okx and okd):
                        break
                    valid[i] = True
                cx = _dot(xv, xh[i], mode, scale, hi)
                cd = _dot(dv, dh[i], mode, scale, hi)
                bcd = _rnd(b * cd, mode, scale, hi)
                bcx = _rnd(b * cx, mode, scale, hi)
                ops[0] += n + m + 2
                ops[1] += n + m - 2
                for k in range(n):
                    X[i, k] = _rnd(_rnd(a * X[i, k], mode, scale, hi)
                                   + _rnd(bcd * xv[k], mode, scale, hi), mode, scale, hi)
                for k in range(m):
                    D[i, k] = _rnd(_rnd(a * D[i, k], mode, scale, hi)
                                   + _rnd(bcx * dv[k], mode, scale, hi), mode, scale, hi)
                ops[0] += 2 * (n + m)
                ops[1] += n + m
                if i < rank - 1:    # deflation against this component's hats before the update
                    for k in range(n):
                        xn[k] = _rnd(xv[k] - _rnd(cx * xh[i, k], mode, scale, hi),
                                     mode, scale, hi)
                    for k in range(m):
                        dn[k] = _rnd(dv[k] - _rnd(cd * dh[i, k], mode, scale, hi),
                                     mode, scale, hi)
                    ops[0] += n + m
                    ops[1] += n + m
                _normalise(X[i], xh[i], mode, scale, hi, ops)
                _normalise(D[i], dh[i], mode, scale, hi, ops)
                if last:
                    cx2 = _dot(xv, xh[i], mode, scale, hi)
                    cd2 = _dot(dv, dh[i], mode, scale, hi)
                    t = _rnd(b_s * _rnd(cx2 * cd2, mode, scale, hi), mode, scale, hi)
                    s[i] = _rnd(_rnd(a_s * s[i], mode, scale, hi) + t, mode, scale, hi)
                    ops[0] += n + m + 3
                    ops[1] += n + m - 1
                if i < rank - 1:
                    xv[:] = xn
                    dv[:] = dn
    return s


def power_of_two_exponent(a: np.ndarray) -> int:
    """Smallest e with max|a| <= 2^e (0 for an all-zero array), exactly (frexp)."""
    peak = float(np.max(np.abs(a))) if a.size else 0.0
    if peak == 0.0 or not math.isfinite(peak):
        return 0
    f, p = math.frexp(peak)
    return p - 1 if f == 0.5 else p


def round_array(a: np.ndarray, arithmetic: str, fixed_bits: int = 26,
                fixed_frac: int = 16) -> np.ndarray:
    """Elementwise rounding of a float64 array to the arithmetic (as binary64 values)."""
    mode = MODES[arithmetic]
    out = np.empty(a.shape)
    flat, res = np.asarray(a, np.float64).ravel(), out.ravel()
    scale, hi = float(2 ** fixed_frac), float(2 ** (fixed_bits - 1) - 1)
    _round_all(flat, res, mode, scale, hi)
    return out


@njit(cache=True)
def _round_all(a, out, mode, scale, hi):
    for k in range(a.shape[0]):
        out[k] = _rnd(a[k], mode, scale, hi)


@njit(cache=True)
def _finish(xh, dh, s, valid, count, mode, scale, hi, ops):
    """Operands in the arithmetic: t = RNE(sqrt|s|), x~ = t * xh, d~ = sign(s) t * dh."""
    r, n = xh.shape
    m = dh.shape[1]
    xo = np.zeros((count, n))
    do = np.zeros((count, m))
    for i in range(count):
        ops[3] += 1
        ops[0] += n + m
        if not valid[i] or s[i] == 0.0:
            continue
        t = _sqrt(abs(s[i]), mode, scale, hi)
        for k in range(n):
            xo[i, k] = _rnd(t * xh[i, k], mode, scale, hi)
        for k in range(m):
            v = _rnd(t * dh[i, k], mode, scale, hi)
            do[i, k] = -v if s[i] < 0 else v
    return xo, do


@dataclass
class SbeOutput:
    """The handed-on operands and what the numerics found."""

    x: np.ndarray            # [K', n]
    delta: np.ndarray        # [K', m]
    sigma: np.ndarray        # [K'] float64 estimates of the kept singular values (sign kept)
    state: tuple | None      # (xh, dh, valid, X, D, s, e) for a warm start, in the arithmetic
    #                          (e = ex + ed: the scaling exponent of X, D and s)
    ops: dict
    saturated: bool = False


def warm_samples(warm_weight: float, K: int) -> int:
    """w0: the prior samples the previous step's averages count as, round(warm_weight * K)
    (half to even; 0 = the hats-only warm start)."""
    return int(round(float(warm_weight) * K))


def output_k(rank: int, m: int, n: int, K: int) -> int:
    return min(rank, K, m, n)


def exact_sbe(x: np.ndarray, delta: np.ndarray, rank: int) -> SbeOutput:
    """Float64 truncated SVD of G = delta^T x: x'_i = sqrt(s_i) v_i, delta'_i = sqrt(s_i) u_i."""
    K, n = x.shape
    m = delta.shape[1]
    count = output_k(rank, m, n, K)
    G = np.asarray(delta, np.float64).T @ np.asarray(x, np.float64)
    u, sv, vt = np.linalg.svd(G, full_matrices=False)
    root = np.sqrt(sv[:count])
    return SbeOutput(root[:, None] * vt[:count], (u[:, :count] * root).T, sv[:count].copy(),
                     None, {})


def streaming_sbe(x: np.ndarray, delta: np.ndarray, c, state: tuple | None = None) -> SbeOutput:
    """The streaming recursion of c.arithmetic on one record (c: the sbe section)."""
    K, n = x.shape
    m = delta.shape[1]
    count = output_k(c.rank, m, n, K)
    mode = MODES[c.arithmetic]
    scale, hi = float(2 ** c.fixed_frac), float(2 ** (c.fixed_bits - 1) - 1)
    ex, ed = power_of_two_exponent(x), power_of_two_exponent(delta)
    xs = round_array(np.ldexp(np.asarray(x, np.float64), -ex), c.arithmetic, c.fixed_bits,
                     c.fixed_frac)
    ds = round_array(np.ldexp(np.asarray(delta, np.float64), -ed), c.arithmetic, c.fixed_bits,
                     c.fixed_frac)
    warm = state is not None and state[0].shape == (count, n) and state[1].shape == (count, m)
    X, D, s = np.zeros((count, n)), np.zeros((count, m)), np.zeros(count)
    w0 = 0
    if warm:
        xh, dh, valid = (state[0].copy(), state[1].copy(), state[2].copy())
        w0 = warm_samples(getattr(c, "warm_weight", 0.0), K)
        if w0 and len(state) >= 7:
            # the previous step's averages, brought to this record's scaling by an exact power
            # of two and rounded to the arithmetic (docs/numerics-sbe.md section 5)
            shift = int(state[6]) - (ex + ed)
            X = round_array(np.ldexp(state[3], shift), c.arithmetic, c.fixed_bits, c.fixed_frac)
            D = round_array(np.ldexp(state[4], shift), c.arithmetic, c.fixed_bits, c.fixed_frac)
            s = round_array(np.ldexp(state[5], shift), c.arithmetic, c.fixed_bits, c.fixed_frac)
        else:
            w0 = 0
    else:
        xh, dh, valid = np.zeros((count, n)), np.zeros((count, m)), np.zeros(count, np.bool_)
    ops = np.zeros(4, np.int64)
    s = sbe_kernel(xs, ds, count, c.passes, xh, dh, valid, X, D, s, w0, mode, scale, hi, ops)
    xo, do = _finish(xh, dh, s, valid, count, mode, scale, hi, ops)
    # exact scalings (not arithmetic of the stage): the batch size K on the x side, and the
    # two power-of-two exponents that brought the operands into range
    xo = np.ldexp(xo * K, ex)
    do = np.ldexp(do, ed)
    sigma = np.ldexp(s[:count] * K, ex + ed)
    sat = False
    if mode == 3:
        lim = hi / scale
        sat = bool(np.any(np.abs(xh) >= lim) or np.any(np.abs(s) >= lim))
    return SbeOutput(xo, do, sigma, (xh, dh, valid, X, D, s, ex + ed),
                     dict(zip(("mul", "add", "div", "sqrt"), (int(v) for v in ops), strict=True)),
                     sat)


def sbe_operands(x: np.ndarray, delta: np.ndarray, c, state: tuple | None = None) -> SbeOutput:
    """The configured mode: exact (SVD) or the streaming recursion."""
    if c.arithmetic == "exact":
        return exact_sbe(x, delta, c.rank)
    return streaming_sbe(x, delta, c, state)
