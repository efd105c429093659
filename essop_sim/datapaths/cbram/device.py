"""The CBRAM device model as the tables the numerics use (docs/numerics-cbram.md, sections 3-5).

Everything here is computed with Python's ``math`` and ``statistics.NormalDist`` (no numpy
transcendental functions), once per (section, run seed), so that the tables are the same for any
chunking or thread count and a reference written from the document reproduces them.
"""

from __future__ import annotations

import math
from functools import lru_cache
from statistics import NormalDist

import numpy as np

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
#: Side tags of the hashes: x (column converters) and delta (row converters).
SIDE_X, SIDE_D = 0, 1


def mix64(z: int) -> int:
    """The SplitMix64 finaliser (a bijection of 64-bit integers)."""
    z &= MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def tau_nominal_ns(dev) -> float:
    """tau(V) = tau0 * exp(-V / V0), in ns."""
    return dev.tau0_s * math.exp(-dev.set_voltage_v / dev.v0_v) * 1e9


def pulse_steps_table(c) -> np.ndarray:
    """S[q] for q = 0 .. 2^w: the SET pulse width (steps) of quantised magnitude q."""
    dev = c.device
    w, smax = c.magnitude_bits, dev.pulse_max_steps
    full = 1 << w
    out = np.empty(full + 1, dtype=np.int64)
    scale = tau_nominal_ns(dev) / dev.pulse_step_ns
    if dev.calibration == "none":
        # width proportional to the magnitude, slope matched at u = 0: u * tau(V)
        for q in range(full + 1):
            out[q] = min(smax, math.floor(q * scale / full + 0.5))
    else:
        out[full] = smax
        for q in range(full):
            x = -scale * math.log1p(-q / full)
            out[q] = min(smax, math.floor(x + 0.5))
    return out


def device_z(run_seed: int, side: int, converter: int, lane: int) -> float:
    """The frozen standard-normal deviate of one device (device-to-device variation)."""
    h = mix64(mix64((run_seed + GOLDEN) & MASK64) ^ ((side << 62) | (converter << 20) | lane))
    h = mix64(h + GOLDEN)
    return NormalDist().inv_cdf(((h >> 11) + 0.5) / (1 << 53))


def c2c_z(levels: int) -> list[float]:
    """Equiprobable levels of the cycle-to-cycle deviate: Phi^-1((g + 1/2) / G)."""
    if levels == 1:
        return [0.0]
    return [NormalDist().inv_cdf((g + 0.5) / levels) for g in range(levels)]


def threshold(steps: int, step_ns: float, tau_ns: float) -> int:
    """round(P * 2^32), P = 1 - exp(-steps * step / tau): a bit is 1 iff r32 < threshold."""
    p = -math.expm1(-steps * step_ns / tau_ns)
    return min(1 << 32, math.floor(p * 4294967296.0 + 0.5))


@lru_cache(maxsize=32)
def side_tables(c, run_seed: int, side: int, converters: int) -> np.ndarray:
    """T[converter * d + lane, g, s] (int64) for one side: thresholds of every device, c2c level
    and pulse width s = 0 .. S_max. Read-only (cached)."""
    dev = c.device
    d = c.devices_per_converter
    levels = c2c_z(dev.c2c_levels)
    tau = tau_nominal_ns(dev)
    out = np.empty((converters * d, len(levels), dev.pulse_max_steps + 1), dtype=np.int64)
    memo: dict[float, np.ndarray] = {}   # identical tau -> identical row (no variation)
    for conv in range(converters):
        for lane in range(d):
            z = device_z(run_seed, side, conv, lane) if dev.d2d_sigma else 0.0
            tau_dev = tau * math.exp(dev.d2d_sigma * z)
            for g, zg in enumerate(levels):
                tau_p = tau_dev * math.exp(dev.c2c_sigma * zg)
                if tau_p not in memo:
                    memo[tau_p] = np.array([threshold(s, dev.pulse_step_ns, tau_p)
                                            for s in range(dev.pulse_max_steps + 1)],
                                           dtype=np.int64)
                out[conv * d + lane, g] = memo[tau_p]
    out.setflags(write=False)
    return out


def realised_probability(table: np.ndarray) -> np.ndarray:
    """P[device, s] = mean over c2c levels of T / 2^32: the exact probability a device realises
    for a pulse of s steps (float64)."""
    return table.mean(axis=1) / 4294967296.0
