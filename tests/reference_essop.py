"""Pure-Python, per-bit, per-cycle reference model of the ESSOP datapath.

Written independently of the numba kernels: exact rational arithmetic (fractions) for scaling
and quantisation, its own SplitMix64 and LFSR stepping (one shift at a time, taps read bit by
bit), one comparator decision per element per cycle, one AND per cell per cycle, counters that
increment (and overflow) cycle by cycle, and a Python-int accumulator loop. Only the default tap
table (data, verified separately) and numpy's PCG64 (the definition of the 'ideal' source) are
shared with the implementation. Slow: for tiny sizes only.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from essop_sim.numerics.lfsr import DEFAULT_TAPS

M64 = (1 << 64) - 1


def _splitmix(seed: int, index: int) -> int:
    state = seed
    z = 0
    for _ in range(index):  # step the generator index times; the last output is the one
        state = (state + 0x9E3779B97F4A7C15) & M64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        z ^= z >> 31
    return z


class _Lfsr:
    def __init__(self, width, taps, steps, start):
        self.width, self.taps, self.steps, self.start = width, list(taps), steps, start
        self.state = start

    def restart(self):
        self.state = self.start

    def shift(self):
        fb = 0
        for p in self.taps:  # 1-based tap p reads state bit p - 1
            fb ^= (self.state >> (p - 1)) & 1
        self.state = ((self.state << 1) | fb) % (1 << self.width)

    def number(self, w):
        for _ in range(self.steps):
            self.shift()
        return self.state % (1 << w)


class _Ideal:
    def __init__(self, seed, bank):
        self.seed, self.bank = seed, bank
        self.restart()

    def restart(self):
        self.gen = np.random.PCG64(np.random.SeedSequence([self.seed, self.bank]))

    def number(self, w):
        return int(self.gen.random_raw()) >> (64 - w)


def _exponent(mag: Fraction) -> int:
    """Smallest integer e with mag <= 2^e (mag > 0)."""
    e = mag.numerator.bit_length() - mag.denominator.bit_length()
    while mag > Fraction(2) ** e:
        e += 1
    while mag <= Fraction(2) ** (e - 1):
        e -= 1
    return e


def reference_essop(x, delta, config, seed):
    """Per-cycle simulation; returns a dict with raw, E, x_shifts, delta_shifts, dw and activity."""
    c = config.essop
    r = c.rng
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    delta = np.atleast_2d(np.asarray(delta, dtype=np.float64))
    K, n = x.shape
    m = delta.shape[1]
    w, bl = c.comparator_bits, c.bitstream_length
    F, A = c.accumulator_fraction_bits, c.accumulator_bits
    xv = [[Fraction(float(v)) for v in row] for row in x]
    dv = [[Fraction(float(v)) for v in row] for row in delta]

    def exps(rows):
        per = [_exponent(max(abs(v) for v in row)) if any(row) else None for row in rows]
        if c.scaling.granularity == "batch":
            allv = [abs(v) for row in rows for v in row if v != 0]
            e = _exponent(max(allv)) if allv else 0
            return [e] * len(rows), [p is not None for p in per]
        return [p if p is not None else 0 for p in per], [p is not None for p in per]

    ex, nzx = exps(xv)
    ed, nzd = exps(dv)
    sums = [ex[k] + ed[k] for k in range(K) if nzx[k] and nzd[k]]
    E = max(sums) if sums else 0

    def quant(v, e):
        y = abs(v) / Fraction(2) ** e * (1 << w)
        q = math.floor(y + Fraction(1, 2))
        return min(max(q, 0), 1 << w)

    def make(side, index):
        bank = 2 * index + (0 if side == "x" else 1)
        if r.kind == "ideal":
            return _Ideal(seed, bank)
        L = r.lfsr_bits
        taps = (r.taps_x if side == "x" else r.taps_delta) or \
            DEFAULT_TAPS[L][0 if side == "x" else 1]
        start = _splitmix(seed, bank + 1) % ((1 << L) - 1) + 1
        return _Lfsr(L, taps, r.steps_per_number or w, start)

    if r.sharing == "vector":
        bx = [make("x", 0)]
        bd = [make("delta", 0)]
    else:
        bx = [make("x", i) for i in range(n)]
        bd = [make("delta", j) for j in range(m)]

    cmax = (1 << c.counter_bits) - 1
    sat = c.overflow == "saturate"
    hi, lo = (1 << (A - 1)) - 1, -(1 << (A - 1))
    acc = [[0] * n for _ in range(m)]
    increments = overflows = saturations = 0
    for k in range(K):
        if r.sequence == "restart":
            for b in bx + bd:
                b.restart()
        qx = [quant(v, ex[k]) for v in xv[k]]
        qd = [quant(v, ed[k]) for v in dv[k]]
        counters = [[0] * n for _ in range(m)]
        overflowed = [[False] * n for _ in range(m)]
        for _t in range(bl):  # one cycle: fresh numbers, comparators, AND gates, counters
            rx = [b.number(w) for b in bx]
            rd = [b.number(w) for b in bd]
            bits_x = [1 if rx[i if len(bx) > 1 else 0] < qx[i] else 0 for i in range(n)]
            bits_d = [1 if rd[j if len(bd) > 1 else 0] < qd[j] else 0 for j in range(m)]
            for j in range(m):
                for i in range(n):
                    if bits_x[i] & bits_d[j]:
                        increments += 1
                        if counters[j][i] == cmax:
                            overflowed[j][i] = True
                            counters[j][i] = cmax if sat else 0
                        else:
                            counters[j][i] += 1
        if not (nzx[k] and nzd[k]):
            continue
        shift = E - ex[k] - ed[k]
        for j in range(m):
            for i in range(n):
                overflows += overflowed[j][i]
                v = (counters[j][i] << F) >> shift
                negative = (xv[k][i] < 0) != (dv[k][j] < 0)
                a = acc[j][i] - v if negative else acc[j][i] + v
                if a > hi or a < lo:
                    saturations += 1
                    a = (hi if a > hi else lo) if sat else (a - lo) % (1 << A) + lo
                acc[j][i] = a
    raw = np.array(acc, dtype=np.int64)
    return {
        "raw": raw,
        "E": E,
        "x_shifts": np.array(ex, dtype=np.int64),
        "delta_shifts": np.array(ed, dtype=np.int64),
        "dw": np.array([[math.ldexp(float(v), E - F) / bl for v in row] for row in acc]),
        "activity": {"counter_increments": increments, "counter_overflows": overflows,
                     "accumulator_saturations": saturations},
    }
