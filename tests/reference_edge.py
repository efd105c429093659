"""A slow, independent re-implementation of the edge processor's numerics, written from
docs/numerics-edge.md with Python integers (no numpy arithmetic, no numba): quantisation,
per-edge saturating accumulation in k order, the learning-rate shift and the weight
saturation. The pattern (which edges exist) is an input: its properties are tested on their own.
"""

from __future__ import annotations

import math


def _quantise(v: float, bits: int, frac: int) -> tuple[int, bool]:
    q = round(math.ldexp(float(v), frac))          # Python round: half to even, exact here
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return min(hi, max(lo, q)), not lo <= q <= hi


def reference_edge_update(x, delta, cols, c) -> dict:
    """raw [m][n] accumulators (0 off the pattern), update [m][n] in weight LSBs, counters."""
    K, n, m = len(x), len(x[0]), len(delta[0])
    fx = c.operand_bits - 1 - c.x_int_bits
    fd = c.operand_bits - 1 - c.delta_int_bits
    fw = c.weight_bits - 1 - c.weight_int_bits
    clips = 0
    qx, qd = [], []
    for k in range(K):
        row = []
        for i in range(n):
            q, clipped = _quantise(x[k][i], c.operand_bits, fx)
            row.append(q)
            clips += clipped
        qx.append(row)
        row = []
        for j in range(m):
            q, clipped = _quantise(delta[k][j], c.operand_bits, fd)
            row.append(q)
            clips += clipped
        qd.append(row)
    amax = (1 << (c.accumulator_bits - 1)) - 1
    raw = [[0] * n for _ in range(m)]
    saturations = 0
    for j in range(m):
        for i in cols[j]:
            a = 0
            for k in range(K):
                a += qd[k][j] * qx[k][int(i)]
                if a > amax or a < -amax - 1:
                    a = amax if a > 0 else -amax - 1
                    saturations += 1
            raw[j][int(i)] = a
    shift = fx + fd + c.lr_shift - fw
    wmax = (1 << (c.weight_bits - 1)) - 1
    update, wsat = [[0] * n for _ in range(m)], 0
    for j in range(m):
        for i in range(n):
            u = raw[j][i] >> shift if shift >= 0 else raw[j][i] << -shift   # floor
            if u > wmax or u < -wmax - 1:
                u = wmax if u > 0 else -wmax - 1
                wsat += 1
            update[j][i] = u
    return {"raw": raw, "update": update, "fx": fx, "fd": fd, "fw": fw, "clips": clips,
            "saturations": saturations, "weight_saturations": wsat}
