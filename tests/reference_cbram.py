"""Slow, independent re-implementation of docs/numerics-cbram.md (pure Python integers and
``math``), for small cases. Shares no code with essop_sim.datapaths.cbram."""

from __future__ import annotations

import math
from statistics import NormalDist

M64 = (1 << 64) - 1
G64 = 0x9E3779B97F4A7C15


def mix(z):
    z &= M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def exponent(v):
    if v == 0.0:
        return 0
    f, p = math.frexp(v)
    return p - 1 if f == 0.5 else p


def reference_cbram(x, delta, c, run_seed, seed):
    """(acc [m][n] ints, E, switches per (side, converter, lane)) for operands as lists."""
    dev = c.device
    K, n, m = len(x), len(x[0]), len(delta[0])
    BL, d, w = c.bitstream_length, c.devices_per_converter, c.magnitude_bits
    R, C = c.array.rows, c.array.cols
    F, A = c.accumulator_fraction_bits, c.accumulator_bits
    tau = dev.tau0_s * math.exp(-dev.set_voltage_v / dev.v0_v) * 1e9
    full = 1 << w
    # pulse widths
    S = []
    for q in range(full + 1):
        if dev.calibration == "none":
            S.append(min(dev.pulse_max_steps, math.floor(q * (tau / dev.pulse_step_ns) / full
                                                         + 0.5)))
        elif q == full:
            S.append(dev.pulse_max_steps)
        else:
            xq = -(tau / dev.pulse_step_ns) * math.log1p(-q / full)
            S.append(min(dev.pulse_max_steps, math.floor(xq + 0.5)))
    G = dev.c2c_levels
    zg = [0.0] if G == 1 else [NormalDist().inv_cdf((g + 0.5) / G) for g in range(G)]
    if G == 1:
        zg = [0.0]

    def thr(side, conv, lane, g, s):
        z = 0.0
        if dev.d2d_sigma:
            h = mix(mix(run_seed + G64) ^ ((side << 62) | (conv << 20) | lane))
            h = mix(h + G64)
            z = NormalDist().inv_cdf(((h >> 11) + 0.5) / 2 ** 53)
        t = tau * math.exp(dev.d2d_sigma * z) * math.exp(dev.c2c_sigma * zg[g % len(zg)])
        p = -math.expm1(-s * dev.pulse_step_ns / t)
        return min(2 ** 32, math.floor(p * 4294967296.0 + 0.5))

    def exps(v):
        if c.scaling.granularity == "batch":
            e = exponent(max(abs(a) for row in v for a in row))
            return [e] * K, [max(abs(a) for a in row) > 0 for row in v]
        return [exponent(max(abs(a) for a in row)) for row in v], \
            [max(abs(a) for a in row) > 0 for row in v]

    ex, nzx = exps(x)
    ed, nzd = exps(delta)
    act = [a and b for a, b in zip(nzx, nzd, strict=True)]
    E = max((ex[k] + ed[k] for k in range(K) if act[k]), default=0)
    h0 = mix(seed + G64)
    switches = {}

    def stream(side, e, conv, tile, k, v, ek):
        y = abs(v) * 2.0 ** (w - ek)
        q = min(full, math.floor(y) + (1 if y - math.floor(y) >= 0.5 else 0))
        s = S[q]
        bits = []
        h1 = mix(h0 ^ ((side << 62) | (tile << 32) | e))
        for t in range(BL):
            h = mix(h1 + ((k << 20) | t) * G64)
            g, r = h & (G - 1), h >> 32
            lane = t % d
            b = s > 0 and r < thr(side, conv, lane, g, s)
            if b:
                switches[(side, conv, lane)] = switches.get((side, conv, lane), 0) + 1
            bits.append(b)
        return bits

    acc = [[0] * n for _ in range(m)]
    cmax = (1 << c.counter_bits) - 1
    hi, lo = (1 << (A - 1)) - 1, -(1 << (A - 1))
    sat = c.overflow == "saturate"
    for tr in range((m + R - 1) // R):
        for tc in range((n + C - 1) // C):
            rows = range(tr * R, min(m, tr * R + R))
            cols = range(tc * C, min(n, tc * C + C))
            for k in range(K):
                X = {i: stream(0, i, i - tc * C, tr, k, x[k][i], ex[k]) for i in cols}
                D = {j: stream(1, j, j - tr * R, tc, k, delta[k][j], ed[k]) for j in rows}
                if not act[k]:
                    continue
                sk = E - ex[k] - ed[k]
                for j in rows:
                    for i in cols:
                        cnt = sum(a and b for a, b in zip(X[i], D[j], strict=True))
                        if cnt > cmax:
                            cnt = cmax if sat else cnt % (cmax + 1)
                        v = (cnt << F) >> sk
                        neg = (x[k][i] < 0) != (delta[k][j] < 0)
                        a = acc[j][i] + (-v if neg else v)
                        if a > hi or a < lo:
                            a = (hi if a > hi else lo) if sat else \
                                ((a + (1 << (A - 1))) % (1 << A)) - (1 << (A - 1))
                        acc[j][i] = a
    return acc, E, switches
